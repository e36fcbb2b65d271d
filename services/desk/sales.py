"""What the sales screens show: pure decisions, no I/O, the clock passed in. The head of sales'
inbox (its rows as the assignment answers them, the countdown to each deadline, the
negotiators to pass a lead to with their chance), a person's own leads and the outcome form,
and the shopping-around alerts of the department or of a person's own clients."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from services.desk.policy import FieldError, Reason, field_errors, reasons_of, typed_number
from services.desk.stats import Beta
from shared import chances
from shared.access.principals import Principal, Scope
from shared.chances import UNKNOWN, DepartmentRecord, Record, department_average
from shared.events import CallEnriched, DealClosed, Role, ShoppingAroundDetected, stable_id



def lead_dom_id(lead_id: uuid.UUID, where: str = "inbox") -> str:
    """The HTML id of a lead's row on a screen."""
    return f"{where}-{lead_id.hex[:20]}"


# --- the inbox, as the assignment answers it ----------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    """A lead waiting in the head's inbox (the assignment's `GET /v1/inbox` item)."""

    lead_id: uuid.UUID
    call_id: str
    client_id: uuid.UUID | None
    client_name: str | None
    caller: str | None
    segment: str | None
    size_class: str | None
    value: Decimal | None
    currency: str | None
    arrived_at: datetime
    due_at: datetime
    overdue: bool  # the deadline passed once and nobody could take it

    @property
    def dom_id(self) -> str:
        return lead_dom_id(self.lead_id)

    @property
    def kind(self) -> tuple[str, str]:
        return kind_of(self.segment, self.size_class)


def inbox_rows(answer: Mapping[str, Any]) -> list[InboxRow]:
    """The rows of the assignment's inbox answer; an item this desk cannot read is left out
    (an additive change of the answer never breaks the page)."""
    rows = []
    for item in answer.get("leads") or []:
        try:
            client = item.get("client") or {}
            value = item.get("value")
            rows.append(InboxRow(
                lead_id=uuid.UUID(item["lead_id"]), call_id=str(item["call_id"]),
                client_id=uuid.UUID(client["client_id"]) if client.get("client_id") else None,
                client_name=client.get("name"), caller=item.get("caller"),
                segment=item.get("segment"), size_class=item.get("size_class"),
                value=Decimal(value) if value is not None else None,
                currency=item.get("currency"),
                arrived_at=datetime.fromisoformat(item["arrived_at"]),
                due_at=datetime.fromisoformat(item["due_at"]),
                overdue=bool(item.get("overdue"))))
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError):
            continue
    return rows


@dataclass(frozen=True)
class Countdown:
    seconds: int  # left, never below 0
    passed: bool

    @property
    def text(self) -> str:
        return clock(self.seconds)


def countdown(due_at: datetime, now: datetime) -> Countdown:
    """The time left before the deadline hands the lead out, in whole seconds (rounded up:
    "0:00" only once it is due)."""
    left = (due_at - now).total_seconds()
    if left <= 0:
        return Countdown(0, True)
    return Countdown(int(-(-left // 1)), False)


def waited(arrived_at: datetime, now: datetime) -> str:
    """How long a lead has waited, as a clock."""
    return clock(max(0, int((now - arrived_at).total_seconds())))


def clock(seconds: int) -> str:
    """4:05, 1:02:03 (static/countdown.js writes the same)."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# --- the negotiators' chances ---------------------------------------------------------------


class Availability(StrEnum):
    AVAILABLE = "available"
    AT_CAPACITY = "at_capacity"
    ON_LEAVE = "on_leave"
    LEFT = "left"


def kind_of(segment: str | None, size_class: str | None) -> tuple[str, str]:
    """A lead's kind, as the negotiators' records are kept: (segment, size class)."""
    return (segment or UNKNOWN, size_class or UNKNOWN)


@dataclass(frozen=True)
class Colleague:
    """A member of the commercial department, as the client base has them now."""

    employee_id: uuid.UUID
    name: str
    role: Role
    load: int  # open leads
    capacity: int
    active: bool = True
    on_leave: bool = False
    records: Mapping[tuple[str, str], Record] = field(default_factory=dict)

    def record(self, kind: tuple[str, str]) -> Record:
        return self.records.get(kind, Record())

    @property
    def total(self) -> Record:
        return sum(self.records.values(), Record())

    @property
    def availability(self) -> Availability:
        if not self.active:
            return Availability.LEFT
        if self.on_leave:
            return Availability.ON_LEAVE
        return Availability.AVAILABLE if self.load < self.capacity else Availability.AT_CAPACITY


def posterior(record: Record, prior_mean: float, strength: float) -> Beta:
    """The distribution of a negotiator's chance to close (`shared.chances.posterior`), for
    the uncertainty the dashboard draws around it."""
    return Beta(*chances.posterior(record, prior_mean, strength))


@dataclass(frozen=True)
class Candidate:
    """A negotiator the head may pass a lead to."""

    employee_id: uuid.UUID
    name: str
    chance: float
    closed: int  # outcomes of this kind of lead the chance rests on
    load: int
    capacity: int
    availability: Availability

    @property
    def available(self) -> bool:
        return self.availability is Availability.AVAILABLE


def department_records(colleagues: Iterable[Colleague], kind: tuple[str, str]
                       ) -> DepartmentRecord:
    """The outcomes of the department's active members: on the kind, and on all kinds."""
    members = [c for c in colleagues if c.active]
    return DepartmentRecord(sum((c.record(kind) for c in members), Record()),
                            sum((c.total for c in members), Record()))


def candidates(colleagues: Sequence[Colleague], kind: tuple[str, str], strength: float
               ) -> list[Candidate]:
    """The department's active negotiators with their chance on this kind of lead (the one
    the assignment ranks by): the available ones first, the likeliest to close first, then
    the least loaded."""
    prior = department_average(department_records(colleagues, kind), strength)
    found = []
    for c in colleagues:
        if c.role is not Role.AGENT or not c.active:
            continue
        record = c.record(kind)
        found.append(Candidate(c.employee_id, c.name, chances.chance(record, prior, strength),
                               record.closed, c.load, c.capacity, c.availability))
    found.sort(key=lambda c: (not c.available, -c.chance, c.load, c.name, str(c.employee_id)))
    return found


# --- a person's own leads -------------------------------------------------------------------


class LeadStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class Contact:
    """A call of the client, as the client base recorded it."""

    call_id: str
    occurred_at: datetime
    employee_name: str | None  # None: a general line
    department: str | None


@dataclass(frozen=True)
class MyLead:
    lead_id: uuid.UUID
    call_id: str
    employee_id: uuid.UUID | None
    client_id: uuid.UUID | None
    client_name: str | None
    caller: str | None
    segment: str | None
    size_class: str | None
    value: Decimal | None
    currency: str | None
    status: LeadStatus
    created_at: datetime
    decided_at: datetime | None = None
    strategy: str | None = None
    final_value: Decimal | None = None
    final_currency: str | None = None
    closed_at: datetime | None = None
    history: tuple[Contact, ...] = ()

    @property
    def dom_id(self) -> str:
        return lead_dom_id(self.lead_id, "mine")


@dataclass(frozen=True)
class Reported:
    """An outcome told (on deals.closed, or through this desk) that the lead's row may not
    show yet: the assignment closes the lead when it hears of it."""

    outcome: LeadStatus
    final_value: Decimal | None
    currency: str | None
    at: datetime

    @classmethod
    def of(cls, deal: DealClosed) -> Reported:
        return cls(LeadStatus(deal.outcome), deal.final_value, deal.currency, deal.occurred_at)


def with_reported(lead: MyLead, reported: Reported | None) -> MyLead:
    """The lead as closed by an outcome told already; a lead closed in the database stays as
    the database has it."""
    if reported is None or lead.status is not LeadStatus.OPEN:
        return lead
    return replace(lead, status=reported.outcome, final_value=reported.final_value,
                   final_currency=reported.currency, closed_at=reported.at)


# A closed lead stays on its person's page this long.
CLOSED_SHOWN = timedelta(days=90)


def leads_shown(leads: Iterable[MyLead], reported: Mapping[uuid.UUID, Reported],
                now: datetime, closed_shown: timedelta = CLOSED_SHOWN
                ) -> dict[LeadStatus, list[MyLead]]:
    """A person's leads by status: every open one, the newest first; the won and lost ones
    closed within `closed_shown`, the latest first. An outcome told counts before the
    assignment has closed the lead."""
    shown: dict[LeadStatus, list[MyLead]] = {status: [] for status in LeadStatus}
    for lead in leads:
        lead = with_reported(lead, reported.get(lead.lead_id))
        if lead.status is not LeadStatus.OPEN:
            closed = lead.closed_at or lead.decided_at or lead.created_at
            if now - closed > closed_shown:
                continue
        shown[lead.status].append(lead)
    shown[LeadStatus.OPEN].sort(key=lambda lead: lead.created_at, reverse=True)
    for status in (LeadStatus.WON, LeadStatus.LOST):
        shown[status].sort(key=lambda lead: lead.closed_at or lead.created_at, reverse=True)
    return shown


def may_close(viewer: Principal, lead: MyLead) -> bool:
    """A person records the outcome of an open lead of their own; the head of sales (or an
    administrator) of any lead."""
    return (lead.status is LeadStatus.OPEN and viewer.may(Scope.DEALS_WRITE)
            and (lead.employee_id == viewer.employee_id or viewer.works_the_inbox))


def has_leads(viewer: Principal) -> bool:
    """Every employee signed in may have leads of their own (an administrator without an
    employee record has none)."""
    return viewer.employee_id is not None


# --- the outcome form -----------------------------------------------------------------------

# The fields are DealClosed's own (the same types and constraints), so the form refuses what
# `deals.closed` would.
OUTCOME_FIELDS = ("outcome", "final_value", "currency")

Outcome: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Outcome",
    __config__=ConfigDict(extra="forbid", frozen=True),
    __doc__="A lead's outcome as a person records it (the fields of `DealClosed`).",
    **{name: (DealClosed.model_fields[name].annotation,
              copy.deepcopy(DealClosed.model_fields[name])) for name in OUTCOME_FIELDS},
)


def outcome_from_form(form: Mapping[str, str]) -> BaseModel | list[FieldError]:
    """The outcome of the form, or the problems of its fields. A deal won has its value, and
    a value its currency; a lost deal has no final value (what was typed is dropped)."""

    def text(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    outcome, value, currency = text("outcome"), text("final_value"), text("currency")
    data: dict[str, Any] = {"outcome": outcome}
    if outcome != LeadStatus.LOST.value:
        data["final_value"] = typed_number(value) if value else None
        data["currency"] = currency.upper() if currency else None
    try:
        verdict = Outcome.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as e:
        return field_errors(e)
    missing = []
    if verdict.outcome == LeadStatus.WON.value and verdict.final_value is None:
        missing.append(FieldError("final_value", "missing", {}, "Field required"))
    if verdict.final_value is not None and verdict.currency is None:
        missing.append(FieldError("currency", "missing", {}, "Field required"))
    return missing or verdict


def outcome_body(outcome: BaseModel) -> dict[str, Any]:
    """The body of the lookup's `POST /v1/leads/{lead_id}/outcome`."""
    value = outcome.final_value  # type: ignore[attr-defined]
    return {"outcome": outcome.outcome,  # type: ignore[attr-defined]
            "value": f"{value:f}" if value is not None else None,
            "currency": outcome.currency}  # type: ignore[attr-defined]


# --- shopping around ------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """A client who seems to be asking several employees for terms."""

    call_id: str
    at: datetime
    client_id: uuid.UUID
    client_name: str
    segment: str
    owner_id: uuid.UUID | None
    owner_name: str | None
    reached_name: str | None  # None: a general line
    reasons: tuple[Reason, ...]

    @property
    def dom_id(self) -> str:
        return f"alert-{stable_id('desk-alert', self.call_id).hex[:20]}"


def alert_of_detected(event: ShoppingAroundDetected) -> Alert:
    """An alert as the lookup raised it (alerts.shopping-around)."""
    return Alert(event.call_id, event.occurred_at, event.client.client_id, event.client.name,
                 event.client.segment.value,
                 event.owner.employee_id if event.owner else None,
                 event.owner.name if event.owner else None,
                 event.reached.name if event.reached else None,
                 tuple(reasons_of(event.rules, event.owner, event.reached, event.history)))


def alert_of_call(enriched: CallEnriched) -> Alert | None:
    """The alert a flagged call raised, from the call as the desk keeps it (what a page is
    drawn from); None for a call that raised none."""
    if not enriched.shopping_around or enriched.client is None:
        return None
    owner = enriched.ownership.owner if enriched.ownership else None
    return Alert(enriched.call_id, enriched.started_at, enriched.client.client_id,
                 enriched.client.name, enriched.client.segment.value,
                 owner.employee_id if owner else None, owner.name if owner else None,
                 enriched.dialed_employee.name if enriched.dialed_employee else None,
                 tuple(reasons_of(enriched.shopping_rules, owner, enriched.dialed_employee,
                                  enriched.recent_contacts)))


def about_own_client(viewer: Principal, alert: Alert) -> bool:
    """An owner hears of their own clients' shopping around."""
    return viewer.employee_id is not None and alert.owner_id == viewer.employee_id


def newest_alerts(alerts: Iterable[Alert], limit: int) -> list[Alert]:
    """One alert per call, the newest first."""
    unique = {alert.call_id: alert for alert in alerts}
    return sorted(unique.values(), key=lambda a: a.at, reverse=True)[:limit]
