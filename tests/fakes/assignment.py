"""In-memory stand-ins for the assignment's ports (`service.LeadStore`,
`service.LeadTransaction`), for tests that run the use cases and the handlers without
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.assignment.service import LeadStore, LeadTransaction
from services.assignment.policy import InboxLead, LeadPlan, LeadToClose, PendingLead
from services.assignment.strength import LeadKind, Negotiator
from shared.access.principals import Principal
from shared.chances import DepartmentRecord, Record
from shared.events import (
    CallRouted,
    Department,
    Destination,
    EmployeeRef,
    Role,
    ScoredCandidate,
    Stage,
    Strategy,
)
from tests.fakes import all_or_nothing


@dataclass(frozen=True)
class Staff:
    """An employee as the lead store knows them."""

    ref: EmployeeRef
    capacity: int = 5
    email: str = ""


@dataclass
class StoredLead:
    lead_id: uuid.UUID
    call_id: str
    client_id: uuid.UUID | None
    client_name: str | None
    caller: str | None
    department: Department
    destination: str
    kind: LeadKind
    value: Decimal | None
    currency: str | None
    expected_value: float | None
    created_at: datetime
    employee_id: uuid.UUID | None = None
    strategy: Strategy | None = None
    decided_at: datetime | None = None
    score: float | None = None
    runners_up: tuple[ScoredCandidate, ...] = ()
    due_at: datetime | None = None
    attempts: int = 0
    status: str = "open"


class InMemoryLeads(LeadStore):
    """The lead store in memory. A transaction that raises leaves nothing behind."""

    def __init__(self, staff: Iterable[Staff] = ()) -> None:
        self.staff = {s.ref.employee_id: s for s in staff}
        self.decisions: dict[str, CallRouted] = {}  # the first decision of each call
        self.stages: set[tuple[str, str]] = set()
        self.rang_for_owner: dict[str, uuid.UUID] = {}  # call: whom it rang for as the owner
        self.leads: dict[uuid.UUID, StoredLead] = {}
        self.joined: dict[str, uuid.UUID] = {}  # call: the lead it joined
        self.owners: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = {}  # client: owner, activity
        self.records: dict[tuple[uuid.UUID, LeadKind], Record] = {}
        self.outcomes: dict[uuid.UUID, str] = {}
        self.published: set[uuid.UUID] = set()
        self.tokens: dict[str, uuid.UUID] = {}  # token hash: employee
        self.audited: list[tuple[str, str, str, dict[str, Any]]] = []  # who, action, subject

    _STATE = ("decisions", "stages", "rang_for_owner", "leads", "joined", "owners", "records",
              "outcomes", "published", "audited")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[LeadTransaction]:
        with all_or_nothing(self, self._STATE):
            yield InMemoryTransaction(self)

    async def inbox(self) -> list[InboxLead]:
        return sorted((_inbox_lead(lead) for lead in self.leads.values() if _in_inbox(lead)),
                      key=lambda lead: (lead.due_at, lead.lead_id))

    async def authenticate(self, token_hash: str) -> EmployeeRef | None:
        employee_id = self.tokens.get(token_hash)
        return self.staff[employee_id].ref if employee_id in self.staff else None

    async def mark_published(self, lead_id: uuid.UUID) -> None:
        self.published.add(lead_id)

    def load(self, employee_id: uuid.UUID) -> int:
        return sum(1 for lead in self.leads.values()
                   if lead.employee_id == employee_id and lead.status == "open")


def _in_inbox(lead: StoredLead) -> bool:
    return (lead.employee_id is None and lead.status == "open" and lead.due_at is not None
            and lead.destination == "commercial_department")


def _inbox_lead(lead: StoredLead) -> InboxLead:
    assert lead.due_at is not None
    return InboxLead(lead_id=lead.lead_id, call_id=lead.call_id, client_id=lead.client_id,
                     client_name=lead.client_name, caller=lead.caller,
                     segment=lead.kind.segment, size_class=lead.kind.size_class,
                     value=lead.value, currency=lead.currency, arrived_at=lead.created_at,
                     due_at=lead.due_at, attempts=lead.attempts)


class InMemoryTransaction(LeadTransaction):
    def __init__(self, store: InMemoryLeads) -> None:
        self.store = store

    async def lock_department(self, department: Department) -> None:
        pass  # one event loop: nothing runs in between

    async def audit(self, principal: Principal, action: str, subject: str,
                    detail: dict[str, Any]) -> None:
        self.store.audited.append((principal.name, action, subject, detail))

    async def record_decisions(self, routed: Sequence[CallRouted]) -> set[tuple[str, str]]:
        return {(r.call_id, r.stage.value) for r in routed if await self.record_decision(r)}

    async def record_decision(self, routed: CallRouted) -> bool:
        stage = (routed.call_id, routed.stage.value)
        if stage in self.store.stages:
            return False
        self.store.stages.add(stage)
        self.store.decisions.setdefault(routed.call_id, routed)
        if routed.stage == Stage.RING and routed.destination == Destination.OWNER \
                and routed.employee_id is not None:
            self.store.rang_for_owner[routed.call_id] = routed.employee_id
        return True

    async def owner_at_ring(self, call_id: str) -> uuid.UUID | None:
        return self.store.rang_for_owner.get(call_id)

    async def lock_client_leads(self, client_id: uuid.UUID | None) -> None:
        pass  # one event loop: nothing runs in between

    async def open_lead(self, client_id: uuid.UUID | None, employee_id: uuid.UUID
                        ) -> uuid.UUID | None:
        mine = sorted((lead for lead in self.store.leads.values()
                       if client_id is not None and lead.client_id == client_id
                       and lead.employee_id == employee_id and lead.status == "open"),
                      key=lambda lead: (lead.created_at, lead.lead_id))
        return mine[0].lead_id if mine else None

    async def join_lead(self, lead_id: uuid.UUID, routed: CallRouted, plan: LeadPlan) -> bool:
        if routed.call_id in self.store.joined:
            return False
        self.store.joined[routed.call_id] = lead_id
        lead = self.store.leads[lead_id]
        if lead.value is None:
            lead.value, lead.currency = plan.value, plan.currency
        return True

    async def employee(self, employee_id: uuid.UUID) -> EmployeeRef | None:
        staff = self.store.staff.get(employee_id)
        return staff.ref if staff else None

    async def candidates(self, department: Department, roles: Sequence[Role], kind: LeadKind, *,
                         email: str | None = None,
                         including: uuid.UUID | None = None) -> list[Negotiator]:
        return [
            Negotiator(employee_id=s.ref.employee_id, name=s.ref.name, email=s.email,
                       load=self.store.load(s.ref.employee_id), capacity=s.capacity,
                       active=s.ref.active, on_leave=s.ref.on_leave,
                       record=self.store.records.get((s.ref.employee_id, kind), Record()))
            for s in self.store.staff.values()
            if (s.ref.department == department and s.ref.role in roles and s.ref.active
                and (email is None or s.email.lower() == email.lower()))
            or s.ref.employee_id == including
        ]

    async def department_record(self, department: Department, kind: LeadKind
                                ) -> DepartmentRecord:
        members = {i for i, s in self.store.staff.items()
                   if s.ref.department == department and s.ref.active}
        on_kind, overall = Record(), Record()
        for (employee_id, record_kind), record in self.store.records.items():
            if employee_id in members:
                overall += record
                if record_kind == kind:
                    on_kind += record
        return DepartmentRecord(kind=on_kind, overall=overall)

    async def inflow_last_hour(self, now: datetime, lead_id: uuid.UUID) -> int:
        return sum(1 for lead in self.store.leads.values()
                   if lead.destination == "commercial_department" and lead.lead_id != lead_id
                   and 0 <= (now - lead.created_at).total_seconds() < 3600)

    async def recent_expected_values(self, currency: str | None, since: datetime,
                                     lead_id: uuid.UUID) -> list[float]:
        return [lead.expected_value for lead in self.store.leads.values()
                if lead.currency == currency and currency is not None
                and lead.expected_value is not None and lead.created_at > since
                and lead.lead_id != lead_id]

    async def create_lead(self, routed: CallRouted, plan: LeadPlan, department: Department,
                          expected_value: float | None = None) -> bool:
        if plan.lead_id in self.store.leads:
            return False
        self.store.leads[plan.lead_id] = StoredLead(
            lead_id=plan.lead_id, call_id=routed.call_id, client_id=routed.client_id,
            client_name=routed.client_name, caller=routed.caller, department=department,
            destination=plan.track.value, kind=plan.kind, value=plan.value,
            currency=plan.currency, expected_value=expected_value, created_at=plan.at)
        return True

    async def decide(self, lead_id: uuid.UUID, employee_id: uuid.UUID, department: Department,
                     strategy: Strategy, at: datetime, score: float | None = None,
                     runners_up: Sequence[ScoredCandidate] = ()) -> None:
        lead = self.store.leads[lead_id]
        if lead.employee_id is None:
            self.store.leads[lead_id] = replace(
                lead, employee_id=employee_id, department=department, strategy=strategy,
                decided_at=at, score=score, runners_up=tuple(runners_up))

    async def to_inbox(self, lead_id: uuid.UUID, due_at: datetime) -> None:
        self.store.leads[lead_id].due_at = due_at

    async def postpone(self, lead_id: uuid.UUID, due_at: datetime) -> None:
        lead = self.store.leads[lead_id]
        lead.due_at, lead.attempts = due_at, lead.attempts + 1

    async def claim_due(self, now: datetime) -> InboxLead | None:
        due = [lead for lead in await self.store.inbox() if lead.due_at <= now]
        return due[0] if due else None

    async def lead_exists(self, lead_id: uuid.UUID) -> bool:
        return lead_id in self.store.leads

    async def lock_inbox_lead(self, lead_id: uuid.UUID) -> InboxLead | None:
        lead = self.store.leads.get(lead_id)
        return _inbox_lead(lead) if lead is not None and _in_inbox(lead) else None

    async def take_ownership(self, client_id: uuid.UUID | None, employee_id: uuid.UUID,
                             at: datetime, lapsed_before: datetime) -> None:
        if client_id is None:
            return
        current = self.store.owners.get(client_id)
        if current is None or current[1] < lapsed_before:
            self.store.owners[client_id] = (employee_id, at)

    async def refresh_ownerships(self, contacts: Mapping[tuple[uuid.UUID, uuid.UUID], datetime]
                                 ) -> None:
        for (client_id, employee_id), at in contacts.items():
            await self.refresh_ownership(client_id, employee_id, at)

    async def refresh_ownership(self, client_id: uuid.UUID | None, employee_id: uuid.UUID,
                                at: datetime) -> None:
        current = self.store.owners.get(client_id) if client_id else None
        if current is not None and current[0] == employee_id:
            self.store.owners[client_id] = (employee_id, max(current[1], at))

    def _pending(self, lead: StoredLead) -> PendingLead:
        assert lead.employee_id is not None and lead.strategy is not None
        staff = self.store.staff[lead.employee_id]
        return PendingLead(lead_id=lead.lead_id, client_id=lead.client_id,
                           employee_id=lead.employee_id, employee_name=staff.ref.name,
                           department=staff.ref.department, strategy=lead.strategy,
                           call_id=lead.call_id, decided_at=lead.decided_at or lead.created_at,
                           score=lead.score, runners_up=lead.runners_up)

    async def unpublished(self, lead_id: uuid.UUID) -> PendingLead | None:
        lead = self.store.leads.get(lead_id)
        if lead is None or lead.employee_id is None or lead_id in self.store.published:
            return None
        return self._pending(lead)

    async def overdue_announcements(self, before: datetime, limit: int) -> list[PendingLead]:
        overdue = sorted((lead for lead in self.store.leads.values()
                          if lead.employee_id is not None
                          and lead.lead_id not in self.store.published
                          and (lead.decided_at or lead.created_at) < before),
                         key=lambda lead: lead.decided_at or lead.created_at)
        return [self._pending(lead) for lead in overdue[:limit]]

    async def mark_published(self, lead_id: uuid.UUID) -> None:
        self.store.published.add(lead_id)

    async def lead_to_close(self, lead_id: uuid.UUID) -> LeadToClose | None:
        lead = self.store.leads.get(lead_id)
        return LeadToClose(lead.lead_id, lead.employee_id, lead.kind) if lead else None

    async def record_outcome(self, lead_id: uuid.UUID, event_id: uuid.UUID,
                             employee_id: uuid.UUID, kind: LeadKind, outcome: str,
                             final_value: Decimal | None, currency: str | None,
                             closed_at: datetime) -> bool:
        if lead_id in self.store.outcomes:
            return False
        self.store.outcomes[lead_id] = outcome
        won = outcome == "won"
        key = (employee_id, kind)
        self.store.records[key] = self.store.records.get(key, Record()) + Record(
            int(won), int(not won))
        return True

    async def close_lead(self, lead_id: uuid.UUID, outcome: str) -> None:
        lead = self.store.leads[lead_id]
        if lead.status == "open":
            lead.status = outcome

