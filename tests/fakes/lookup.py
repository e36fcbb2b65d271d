"""The client base, in memory: what calls read of it, and what a CRM's requests change."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from services.lookup.changes import (ClientChanges, ClientRecord, Employee, EmployeeRecord,
                                     LeadToClose, MovedNumber, ReportedOutcome, StoredClient,
                                     StoredEmployee)
from services.lookup.policy import CallerRecord, Contact
from services.lookup.service import ChangeTransaction, ClientBasePort
from shared.access.principals import Principal
from shared.events import EmployeeRef, utcnow
from tests.fakes import all_or_nothing

# The schema's defaults of an employee's columns a CRM leaves out
# (shared/migrations/0001_client_base.sql).
EMPLOYEE_DEFAULTS: dict[str, Any] = {"extension": None, "direct_number": None, "capacity": 10,
                                     "active": True, "on_leave": False}


class AuditLine(NamedTuple):
    action: str
    subject: str
    detail: dict[str, Any]
    principal: Principal
    at: datetime


class FakeClientBase(ClientBasePort):
    """Knows the callers it is given (number -> record) and no employee's line. A CRM's
    requests change `clients`, `employees` and `leads`, which calls do not read; a
    transaction that raises leaves nothing behind."""

    def __init__(self, known: dict[str, CallerRecord] | None = None,
                 heads: list[uuid.UUID] | None = None, *,
                 clients: Iterable[StoredClient] = (), employees: Iterable[StoredEmployee] = (),
                 leads: Iterable[LeadToClose] = ()) -> None:
        self.known = known or {}
        self.heads = heads or []
        self.contacts: dict[str, uuid.UUID] = {}
        self.clients = {c.external_id: c for c in clients}
        self.employees = {e.email: e for e in employees}
        self.leads = {lead.lead_id: lead for lead in leads}
        self.outcomes: dict[uuid.UUID, ReportedOutcome] = {}  # recorded by the assignment
        self.audit_lines: list[AuditLine] = []

    _STATE = ("clients", "employees", "leads", "outcomes", "audit_lines")

    async def find_caller(self, number: str | None, call_id: str = "") -> CallerRecord:
        return self.known.get(number or "", CallerRecord())

    async def find_callers(self, calls: Sequence[tuple[str | None, str]]) -> list[CallerRecord]:
        return [await self.find_caller(number, call_id) for number, call_id in calls]

    async def find_employees_by_line(self, dialed: Sequence[str]) -> dict[str, EmployeeRef]:
        return {}

    async def heads_of_sales(self) -> list[uuid.UUID]:
        return list(self.heads)

    async def record_contacts(self, contacts: Sequence[Contact]) -> None:
        for contact in contacts:
            self.contacts.setdefault(contact.call_id, contact.client_id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ChangeTransaction]:
        with all_or_nothing(self, self._STATE):
            yield FakeChangeTransaction(self)


class FakeChangeTransaction(ChangeTransaction):
    """One CRM request's transaction (one event loop: nothing to lock)."""

    def __init__(self, base: FakeClientBase) -> None:
        self.base = base

    def _client(self, client_id: uuid.UUID) -> StoredClient:
        return next(c for c in self.base.clients.values() if c.client_id == client_id)

    async def lock_client(self, external_id: str) -> StoredClient | None:
        return self.base.clients.get(external_id)

    async def insert_client(self, record: ClientRecord) -> bool:
        if record.external_id in self.base.clients:
            return False
        columns = record.columns()
        self.base.clients[record.external_id] = StoredClient(
            record.client_id, record.external_id, columns["name"], columns["segment"],
            columns.get("tax_id"))
        return True

    async def numbers_of_other_clients(self, client_id: uuid.UUID, phones: list[str],
                                       prefixes: list[str]) -> list[MovedNumber]:
        others = [c for c in self.base.clients.values() if c.client_id != client_id]
        return ([MovedNumber(p.number, c.external_id) for c in others for p in c.phones
                 if p.number in phones]
                + [MovedNumber(r, c.external_id) for c in others for r in c.number_ranges
                   if r in prefixes])

    async def write_client(self, client_id: uuid.UUID, changes: ClientChanges,
                           now: datetime) -> None:
        client = dataclasses.replace(self._client(client_id), **changes.columns)
        if changes.phones is not None:
            client = dataclasses.replace(client, phones=changes.phones)
            self._take_from_others(client_id, phones={p.number for p in changes.phones})
        if changes.number_ranges is not None:
            client = dataclasses.replace(client, number_ranges=changes.number_ranges)
            self._take_from_others(client_id, ranges=set(changes.number_ranges))
        if changes.owner is None or isinstance(changes.owner, uuid.UUID):
            client = dataclasses.replace(client, owner_id=changes.owner)
        self.base.clients[client.external_id] = client

    def _take_from_others(self, client_id: uuid.UUID, phones: Collection[str] = (),
                          ranges: Collection[str] = ()) -> None:
        """A number or range belongs to one client: the one that lists it last."""
        for key, other in list(self.base.clients.items()):
            if other.client_id != client_id:
                self.base.clients[key] = dataclasses.replace(
                    other, phones=tuple(p for p in other.phones if p.number not in phones),
                    number_ranges=tuple(r for r in other.number_ranges if r not in ranges))

    async def delete_client(self, client_id: uuid.UUID) -> int:
        del self.base.clients[self._client(client_id).external_id]
        detached = [lead for lead in self.base.leads.values() if lead.client_id == client_id]
        for lead in detached:
            self.base.leads[lead.lead_id] = dataclasses.replace(lead, client_id=None)
        return len(detached)

    async def employee_by_email(self, email: str) -> Employee | None:
        found = sorted((e for e in self.base.employees.values() if e.email.lower() == email),
                       key=lambda e: e.email != email)
        return Employee(found[0].employee_id, found[0].email, found[0].name) if found else None

    async def lock_employee(self, email: str) -> StoredEmployee | None:
        return self.base.employees.get(email)

    async def insert_employee(self, record: EmployeeRecord) -> bool:
        if record.email in self.base.employees:
            return False
        self.base.employees[record.email] = StoredEmployee(
            employee_id=record.employee_id, email=record.email,
            **{**EMPLOYEE_DEFAULTS, **record.given()})
        return True

    async def update_employee(self, employee_id: uuid.UUID, columns: dict[str, Any]) -> None:
        for email, employee in self.base.employees.items():
            if employee.employee_id == employee_id:
                self.base.employees[email] = dataclasses.replace(employee, **columns)

    async def holder_of_line(self, column: str, value: str, email: str) -> str | None:
        return next((e.email for e in self.base.employees.values()
                     if getattr(e, column) == value and e.email != email), None)

    async def lock_lead(self, lead_id: uuid.UUID) -> LeadToClose | None:
        return self.base.leads.get(lead_id)

    async def reported_outcome(self, lead: LeadToClose, since: datetime
                               ) -> ReportedOutcome | None:
        for line in reversed(self.base.audit_lines):
            if (line.action, line.subject) == ("deal.outcome", str(lead.lead_id)) \
                    and line.at > since:
                value = line.detail.get("value")
                return ReportedOutcome(line.detail["outcome"],
                                       Decimal(value) if value is not None else None,
                                       line.detail.get("currency"))
        if lead.status == "open":
            return None
        return self.base.outcomes.get(lead.lead_id,
                                      ReportedOutcome(lead.status, values_known=False))

    async def audit(self, principal: Principal, action: str, subject: str,
                    detail: dict[str, Any]) -> None:
        self.base.audit_lines.append(AuditLine(action, subject, detail, principal, utcnow()))
