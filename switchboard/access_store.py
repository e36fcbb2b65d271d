"""The database side of the operator's access commands (`switchboard token`, `user`,
`integration`, `audit`): people's tokens and passwords, invitations, integrations and their
tokens, and reading the audit log. Plain SQL on one connection; every change is written with
its audit line in one transaction, by the system itself (the operator's command line has no
principal of its own).

`run_on_store` is how a command runs its work here: a database that cannot be reached or
refuses is one line on standard error and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import typer
from rich.console import Console

from shared.access.principals import Principal, Scope, person
from shared.access.store import audit, end_sessions
from shared.events import Department, Role, utcnow
from shared.settings import DatabaseSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    """An employee as the access commands see them."""

    employee_id: uuid.UUID
    email: str
    name: str
    department: Department
    role: Role
    active: bool
    admin: bool

    @property
    def principal(self) -> Principal:
        """What a token of theirs is allowed."""
        return person(self.employee_id, self.email, self.name, self.department, self.role,
                      admin=self.admin)


@dataclass(frozen=True)
class IntegrationTokens:
    """What `integration add` did: the integration was created now or existed; how many of its
    tokens were revoked."""

    integration_id: uuid.UUID
    created: bool
    revoked: int


@dataclass(frozen=True)
class Integration:
    name: str
    created_at: datetime
    revoked_at: datetime | None
    live_tokens: int
    scopes: frozenset[Scope]  # of the tokens that still work


@dataclass(frozen=True)
class AuditLine:
    audit_id: int
    at: datetime
    kind: str  # person, integration or system
    who: str
    action: str
    subject: str | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.audit_id, "at": self.at.isoformat(), "kind": self.kind,
                "who": self.who, "action": self.action, "subject": self.subject,
                "detail": self.detail}


_PERSON = """SELECT employee_id, email, name, department, role, active, admin FROM employees
WHERE lower(email) = lower($1)"""

_INTEGRATIONS = """
SELECT i.name, i.created_at, i.revoked_at,
       count(t.token_hash) AS live_tokens,
       coalesce(array_agg(DISTINCT s) FILTER (WHERE s IS NOT NULL), '{}') AS scopes
FROM integrations i
LEFT JOIN api_tokens t ON t.integration_id = i.integration_id AND t.revoked_at IS NULL
     AND (t.expires_at IS NULL OR t.expires_at > $1)
LEFT JOIN LATERAL unnest(t.scopes) AS s ON true
GROUP BY i.integration_id
ORDER BY i.name
"""


def _revoked(status: str) -> int:
    """The row count of an `UPDATE n` status."""
    return int(status.split()[-1])


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


class AccessCommandStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def person(self, email: str) -> Person | None:
        """The employee with this e-mail (any case), active or not."""
        row = await self.conn.fetchrow(_PERSON, email.strip())
        if row is None:
            return None
        return Person(row["employee_id"], row["email"], row["name"],
                      Department(row["department"]), Role(row["role"]), row["active"],
                      row["admin"])

    # --- people's tokens ------------------------------------------------------------------

    async def issue_person_token(self, email: str, token_hash: str | None, *, revoke: bool,
                                 expires_at: datetime | None) -> Person | None:
        """Revokes the person's earlier tokens when `revoke`, then stores the new token's hash
        (`token_hash` None: revoke only); None when nobody has the e-mail."""
        async with self.conn.transaction():
            someone = await self.person(email)
            if someone is None:
                return None
            if revoke:
                status = await self.conn.execute(
                    "UPDATE api_tokens SET revoked_at = now() "
                    "WHERE employee_id = $1 AND revoked_at IS NULL", someone.employee_id)
                await audit(self.conn, None, "token.revoke", someone.email,
                            {"tokens": _revoked(status)})
            if token_hash is not None:
                await self.conn.execute(
                    "INSERT INTO api_tokens (token_hash, employee_id, expires_at) "
                    "VALUES ($1, $2, $3)", token_hash, someone.employee_id, expires_at)
                await audit(self.conn, None, "token.issue", someone.email,
                            {"expires_at": _iso(expires_at)})
            return someone

    # --- integrations ---------------------------------------------------------------------

    async def issue_integration_token(
            self, name: str, token_hash: str | None, scopes: frozenset[Scope], *,
            revoke: bool, expires_at: datetime | None) -> IntegrationTokens | None:
        """Revokes the integration's tokens when `revoke`, then issues one with these scopes,
        creating the integration if it is new. Revoking without a new token cuts the
        integration off (`revoked_at`); a new token puts it back. None: revoke only, and no
        integration has the name."""
        async with self.conn.transaction():
            row = await self.conn.fetchrow(
                "SELECT integration_id FROM integrations WHERE name = $1 FOR UPDATE", name)
            created = row is None
            if created:
                if token_hash is None:
                    return None
                integration_id = uuid.uuid4()
                await self.conn.execute(
                    "INSERT INTO integrations (integration_id, name) VALUES ($1, $2)",
                    integration_id, name)
            else:
                integration_id = row["integration_id"]
            revoked = 0
            if revoke:
                revoked = _revoked(await self.conn.execute(
                    "UPDATE api_tokens SET revoked_at = now() "
                    "WHERE integration_id = $1 AND revoked_at IS NULL", integration_id))
                await audit(self.conn, None, "integration.token.revoke", name,
                            {"tokens": revoked})
            if token_hash is None:
                await self.conn.execute(
                    "UPDATE integrations SET revoked_at = now() "
                    "WHERE integration_id = $1 AND revoked_at IS NULL", integration_id)
                return IntegrationTokens(integration_id, created, revoked)
            await self.conn.execute(
                "UPDATE integrations SET revoked_at = NULL WHERE integration_id = $1",
                integration_id)
            listed = sorted(s.value for s in scopes)
            await self.conn.execute(
                "INSERT INTO api_tokens (token_hash, integration_id, scopes, expires_at) "
                "VALUES ($1, $2, $3, $4)", token_hash, integration_id, listed, expires_at)
            await audit(self.conn, None, "integration.token.issue", name,
                        {"scopes": listed, "expires_at": _iso(expires_at), "created": created})
            return IntegrationTokens(integration_id, created, revoked)

    async def integrations(self, now: datetime) -> list[Integration]:
        rows = await self.conn.fetch(_INTEGRATIONS, now)
        known = {s.value for s in Scope}
        return [Integration(r["name"], r["created_at"], r["revoked_at"], r["live_tokens"],
                            frozenset(Scope(s) for s in r["scopes"] if s in known))
                for r in rows]

    # --- passwords and invitations --------------------------------------------------------

    async def set_password(self, someone: Person, password_hash: str) -> int:
        """Stores the new password's hash and ends the person's sessions (an old password may
        be known to someone else); how many sessions ended."""
        async with self.conn.transaction():
            await self.conn.execute(
                "UPDATE employees SET password_hash = $2 WHERE employee_id = $1",
                someone.employee_id, password_hash)
            ended = await end_sessions(self.conn, someone.employee_id, utcnow())
            await audit(self.conn, None, "password.set", someone.email,
                        {"by": "command line", "sessions_ended": ended})
            return ended

    async def invite(self, someone: Person, token_hash: str, expires_at: datetime) -> int:
        """Stores a one-time link to set a password; the person's earlier unused links stop
        working (the newest link is the one they were sent). How many were replaced."""
        async with self.conn.transaction():
            replaced = _revoked(await self.conn.execute(
                "UPDATE invitations SET expires_at = now() WHERE employee_id = $1 "
                "AND used_at IS NULL AND expires_at > now()", someone.employee_id))
            await self.conn.execute(
                "INSERT INTO invitations (token_hash, employee_id, expires_at) "
                "VALUES ($1, $2, $3)", token_hash, someone.employee_id, expires_at)
            await audit(self.conn, None, "user.invite", someone.email,
                        {"expires_at": _iso(expires_at), "replaced": replaced})
            return replaced

    # --- the audit log --------------------------------------------------------------------

    async def audit_lines(self, since: datetime, who: str | None, limit: int | None
                          ) -> list[AuditLine]:
        """Newest first."""
        rows = await self.conn.fetch(
            "SELECT audit_id, at, principal_kind, principal, action, subject, detail "
            "FROM audit_log WHERE at >= $1 AND ($2::text IS NULL OR lower(principal) = "
            "lower($2)) ORDER BY at DESC, audit_id DESC LIMIT $3", since, who, limit)
        return [AuditLine(r["audit_id"], r["at"], r["principal_kind"], r["principal"],
                          r["action"], r["subject"], json.loads(r["detail"]))
                for r in rows]


def run_on_store(work: Callable[[AccessCommandStore], Awaitable[T]]) -> T:
    """Runs `work` on one connection to SWITCHBOARD_DATABASE_URL."""
    url = DatabaseSettings().url

    async def connected() -> T:
        conn = await asyncpg.connect(url)
        try:
            return await work(AccessCommandStore(conn))
        finally:
            await conn.close()

    try:
        return asyncio.run(connected())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        Console(stderr=True).print(f"[bold red]database error[/] ({url.split('@')[-1]}): "
                                   f"{error}", soft_wrap=True)
        raise typer.Exit(1) from None
