"""Principals, their roles and scopes: pure rules, no I/O.

A person's role follows from where they work: a client department agent is an operator, a
commercial agent a negotiator, a head of either department a head; an administrator is named
in the client base (`employees.admin`). An integration (a CRM, a reporting tool) has the
scopes its token was issued with, nothing more, but for what one of them includes
(`INTEGRATION_IMPLIES`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from shared.events import Department, Role


class AccessRole(StrEnum):
    OPERATOR = "operator"  # client department agent: answers every call, qualifies it
    NEGOTIATOR = "negotiator"  # commercial agent: works their leads and clients
    HEAD = "head"  # head of a department
    ADMIN = "admin"  # runs the installation


class Scope(StrEnum):
    CLIENTS_READ = "clients:read"  # who is calling: client, owner, leads, contacts
    CLIENTS_WRITE = "clients:write"  # clients and their numbers
    EMPLOYEES_WRITE = "employees:write"  # the staff: departments, roles, lines, capacity
    DEALS_WRITE = "deals:write"  # outcomes of leads (won / lost)
    CALLS_QUALIFY = "calls:qualify"  # the operator's verdict on a call
    INBOX_WORK = "inbox:work"  # keep or pass the head of sales' leads
    RULES_READ = "rules:read"  # the routing rules in force
    AUDIT_READ = "audit:read"  # the audit log
    OWNERS_WRITE = "owners:write"  # who owns a client, and removing a client


# A CRM issued `clients:write` before owners:write existed sets owners and removes clients:
# for an integration, clients:write includes owners:write. A person has owners:write only
# by their role (ROLE_SCOPES).
INTEGRATION_IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.CLIENTS_WRITE: frozenset({Scope.OWNERS_WRITE})}


# What each person's role may do.
# Operators keep the client base right from the call card: "create client" for an unknown
# caller, "not this client" for a wrong match (clients:write). Ownership is what the routing
# protects: only a head or an administrator gives a client to someone, or removes a client
# (owners:write), so no agent takes a colleague's client.
ROLE_SCOPES: dict[AccessRole, frozenset[Scope]] = {
    AccessRole.OPERATOR: frozenset({Scope.CLIENTS_READ, Scope.CLIENTS_WRITE, Scope.CALLS_QUALIFY,
                                    Scope.RULES_READ}),
    AccessRole.NEGOTIATOR: frozenset({Scope.CLIENTS_READ, Scope.CLIENTS_WRITE,
                                      Scope.CALLS_QUALIFY, Scope.DEALS_WRITE, Scope.RULES_READ}),
    AccessRole.HEAD: frozenset({Scope.CLIENTS_READ, Scope.CLIENTS_WRITE, Scope.OWNERS_WRITE,
                                Scope.CALLS_QUALIFY, Scope.DEALS_WRITE, Scope.RULES_READ,
                                Scope.INBOX_WORK}),
    AccessRole.ADMIN: frozenset(Scope),
}


class PrincipalKind(StrEnum):
    PERSON = "person"
    INTEGRATION = "integration"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in person or an integration."""

    kind: PrincipalKind
    name: str  # a person's e-mail, an integration's name: what the audit log records
    display_name: str
    scopes: frozenset[Scope]
    roles: frozenset[AccessRole] = field(default_factory=frozenset)
    employee_id: uuid.UUID | None = None
    department: Department | None = None
    locale: str = "ru"

    def may(self, scope: Scope) -> bool:
        if scope in self.scopes:
            return True
        return self.kind is PrincipalKind.INTEGRATION and any(
            scope in INTEGRATION_IMPLIES.get(given, ()) for given in self.scopes)

    @property
    def works_the_inbox(self) -> bool:
        """Only a head of the commercial department acts on the head of sales' inbox (or an
        administrator)."""
        return (AccessRole.ADMIN in self.roles or (
            AccessRole.HEAD in self.roles and self.department is Department.COMMERCIAL))


class NotAllowed(Exception):
    """A principal without the scope an action needs: answered 403, `where` names what."""

    def __init__(self, principal: Principal, scope: Scope, where: str = "scope",
                 why: str | None = None) -> None:
        super().__init__(f"{principal.display_name} may not {scope.value}"
                         + (f": {why}" if why else ""))
        self.scope, self.where = scope, where


def require(principal: Principal, scope: Scope, where: str = "scope",
            why: str | None = None) -> None:
    """`NotAllowed` unless the principal may `scope`."""
    if not principal.may(scope):
        raise NotAllowed(principal, scope, where, why)


def person_roles(department: Department, role: Role, admin: bool) -> frozenset[AccessRole]:
    roles = {AccessRole.HEAD if role is Role.HEAD else (
        AccessRole.OPERATOR if department is Department.CLIENT else AccessRole.NEGOTIATOR)}
    if admin:
        roles.add(AccessRole.ADMIN)
    return frozenset(roles)


def person(employee_id: uuid.UUID, email: str, name: str, department: Department, role: Role,
           *, admin: bool = False, locale: str = "ru") -> Principal:
    roles = person_roles(department, role, admin)
    scopes = frozenset().union(*(ROLE_SCOPES[r] for r in roles))
    if AccessRole.HEAD in roles and department is not Department.COMMERCIAL and not admin:
        scopes = scopes - {Scope.INBOX_WORK}
    return Principal(PrincipalKind.PERSON, email, name, scopes, roles, employee_id, department,
                     locale)


def integration(name: str, scopes: frozenset[Scope]) -> Principal:
    return Principal(PrincipalKind.INTEGRATION, name, name, scopes)


def parse_scopes(given: list[str]) -> frozenset[Scope]:
    """Scopes as written on the command line; an unknown one is refused with the known ones."""
    known = {s.value: s for s in Scope}
    unknown = [s for s in given if s not in known]
    if unknown:
        raise ValueError(f"unknown scope {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(known)}")
    return frozenset(known[s] for s in given)
