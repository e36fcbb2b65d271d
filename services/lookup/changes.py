"""What a CRM's request changes in the client base: pure rules, no I/O.

A request is checked field by field with `shared.clientbase.checks`, the checks of the CSV
import, so a CRM and a file are told the same words; then it is compared with what the client
base holds, and only what differs is written, so the same request twice changes nothing the
second time. A field the request leaves out (`KEEP`) stays as it is; null clears it where the
client base may hold nothing (a tax id, an extension, the owner)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, TypeVar

from shared.clientbase import checks
from shared.events import DealClosed, Department, Role, Segment, stable_id

T = TypeVar("T")


class Keep(Enum):
    """A field the request left out: the client base keeps its current value."""

    KEEP = "keep"


KEEP = Keep.KEEP

Result = Literal["created", "updated", "unchanged"]


class Refusal(Exception):
    """A request the client base cannot take: `invalid` (a field's value), `conflict` (with
    what another record holds), `not_found`; `where` names the field."""

    def __init__(self, kind: Literal["invalid", "conflict", "not_found"], reason: str,
                 where: str) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.where = kind, reason, where


def checked(check: Callable[[Any], T], value: Any, where: str) -> T:
    """`check(value)`, or the refusal of the field `where` with the check's message."""
    try:
        return check(value)
    except checks.Invalid as problem:
        raise Refusal("invalid", str(problem), where) from None


# --- clients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientPhone:
    number: str  # E.164
    contact_name: str | None = None  # the person who answers this number


@dataclass(frozen=True)
class ClientRecord:
    """A client as a CRM sends it, checked."""

    external_id: str
    name: str
    segment: Segment
    tax_id: str | None | Keep = KEEP
    phones: tuple[ClientPhone, ...] | Keep = KEEP  # every number of the client
    number_ranges: tuple[str, ...] | Keep = KEEP  # every range of the client
    owner_email: str | None | Keep = KEEP  # None: nobody owns the client

    @property
    def client_id(self) -> uuid.UUID:
        """A client's id comes from the CRM's id, as the CSV import makes it."""
        return stable_id("client", self.external_id)

    def columns(self) -> dict[str, Any]:
        """What a new client's row is made of."""
        given = {"name": self.name, "segment": self.segment}
        if not isinstance(self.tax_id, Keep) and self.tax_id is not None:
            given["tax_id"] = self.tax_id
        return given


def client_record(external_id: str, *, name: str, segment: str,
                  tax_id: str | None | Keep = KEEP,
                  phones: Sequence[tuple[str, str | None]] | Keep = KEEP,
                  number_ranges: Sequence[str] | Keep = KEEP,
                  owner_email: str | None | Keep = KEEP, region: str) -> ClientRecord:
    """The client a request describes; a bad value is refused with the field it is in (the
    first, in the order the CSV import checks a row). A number listed twice counts once."""
    checked_id = checked(checks.external_id, external_id, "external_id")
    checked_name = checked(checks.name, name, "name")
    checked_segment = checked(checks.segment, segment, "segment")
    owner = (owner_email if isinstance(owner_email, Keep) or owner_email is None
             else checked(checks.owner_email, owner_email, "owner_email"))
    numbers: tuple[ClientPhone, ...] | Keep = KEEP
    if not isinstance(phones, Keep):
        kept: dict[str, ClientPhone] = {}
        for i, (text, contact) in enumerate(phones):
            number = checked(lambda t: checks.phone(t, region), text, f"phones.{i}")
            kept.setdefault(number, ClientPhone(number, (contact or "").strip() or None))
        numbers = tuple(kept.values())
    ranges: tuple[str, ...] | Keep = KEEP
    if not isinstance(number_ranges, Keep):
        ranges = tuple(dict.fromkeys(
            checked(lambda t: checks.number_range(t, region), text, f"number_ranges.{i}")
            for i, text in enumerate(number_ranges)))
    return ClientRecord(
        external_id=checked_id, name=checked_name, segment=checked_segment,
        tax_id=tax_id if isinstance(tax_id, Keep) or tax_id is None else checks.tax_id(tax_id),
        phones=numbers, number_ranges=ranges, owner_email=owner)


@dataclass(frozen=True)
class MovedNumber:
    """A number (or range) a client takes over from another client."""

    number: str
    from_external_id: str | None  # None: a client made without the CRM's id


@dataclass(frozen=True)
class StoredClient:
    """A client as the client base holds it."""

    client_id: uuid.UUID
    external_id: str
    name: str
    segment: Segment
    tax_id: str | None
    phones: tuple[ClientPhone, ...] = ()
    number_ranges: tuple[str, ...] = ()
    owner_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ClientChanges:
    """What a request changes in a stored client."""

    columns: dict[str, Any] = field(default_factory=dict)  # name, segment, tax_id
    phones: tuple[ClientPhone, ...] | None = None  # the client's numbers from now on
    number_ranges: tuple[str, ...] | None = None
    owner: uuid.UUID | None | Keep = KEEP  # the new owner; None frees the client

    @property
    def fields(self) -> list[str]:
        """The fields that change, as the request names them."""
        return [*self.columns, *(["phones"] if self.phones is not None else []),
                *(["number_ranges"] if self.number_ranges is not None else []),
                *(["owner_email"] if not isinstance(self.owner, Keep) else [])]


def client_changes(stored: StoredClient, wanted: ClientRecord,
                   owner: uuid.UUID | None | Keep) -> ClientChanges:
    """What differs between the stored client and the request (`owner`: the employee the
    request's owner e-mail names)."""
    columns: dict[str, Any] = {}
    if wanted.name != stored.name:
        columns["name"] = wanted.name
    if wanted.segment is not stored.segment:
        columns["segment"] = wanted.segment
    if not isinstance(wanted.tax_id, Keep) and wanted.tax_id != stored.tax_id:
        columns["tax_id"] = wanted.tax_id
    phones = None
    if not isinstance(wanted.phones, Keep) and set(wanted.phones) != set(stored.phones):
        phones = wanted.phones
    ranges = None
    if (not isinstance(wanted.number_ranges, Keep)
            and set(wanted.number_ranges) != set(stored.number_ranges)):
        ranges = wanted.number_ranges
    # The same owner again keeps their `since` and activity clock, as a re-import does.
    new_owner = owner if not isinstance(owner, Keep) and owner != stored.owner_id else KEEP
    return ClientChanges(columns, phones, ranges, new_owner)


# --- employees -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmployeeRecord:
    """An employee as a CRM sends them, checked."""

    email: str
    name: str
    department: Department
    role: Role
    extension: str | None | Keep = KEEP
    direct_number: str | None | Keep = KEEP
    capacity: int | Keep = KEEP  # kept (on a new employee the schema's default) when null
    active: bool | Keep = KEEP
    on_leave: bool | Keep = KEEP

    @property
    def employee_id(self) -> uuid.UUID:
        """An employee's id comes from their e-mail, as the CSV import makes it."""
        return stable_id("employee", self.email)

    def given(self) -> dict[str, Any]:
        """The fields the request gives (what a new employee is made of)."""
        return {name: value for name, value in (
            ("name", self.name), ("department", self.department), ("role", self.role),
            ("extension", self.extension), ("direct_number", self.direct_number),
            ("capacity", self.capacity), ("active", self.active),
            ("on_leave", self.on_leave)) if not isinstance(value, Keep)}


def employee_record(email: str, *, name: str, department: str, role: str,
                    extension: str | int | None | Keep = KEEP,
                    direct_number: str | None | Keep = KEEP,
                    capacity: str | int | None | Keep = KEEP,
                    active: bool | None | Keep = KEEP, on_leave: bool | None | Keep = KEEP,
                    region: str) -> EmployeeRecord:
    """The employee a request describes; a bad value is refused with the field it is in."""
    found_capacity = (KEEP if isinstance(capacity, Keep) or capacity is None
                      else checked(checks.capacity, capacity, "capacity"))
    return EmployeeRecord(
        email=checked(checks.email, email, "email"),
        name=checked(checks.name, name, "name"),
        department=checked(checks.department, department, "department"),
        role=checked(checks.role, role, "role"),
        extension=(extension if isinstance(extension, Keep) or extension is None
                   else checked(checks.extension, str(extension), "extension")),
        direct_number=(direct_number if isinstance(direct_number, Keep) or direct_number is None
                       else checked(lambda t: checks.direct_number(t, region), direct_number,
                                    "direct_number")),
        capacity=KEEP if found_capacity is None else found_capacity,
        active=KEEP if active is None else active,
        on_leave=KEEP if on_leave is None else on_leave,
    )


@dataclass(frozen=True)
class Employee:
    """Who an e-mail names."""

    employee_id: uuid.UUID
    email: str
    name: str


@dataclass(frozen=True)
class StoredEmployee:
    """An employee as the client base holds them."""

    employee_id: uuid.UUID
    email: str
    name: str
    department: Department
    role: Role
    extension: str | None
    direct_number: str | None
    capacity: int
    active: bool
    on_leave: bool


def employee_changes(stored: StoredEmployee, wanted: EmployeeRecord) -> dict[str, Any]:
    """The columns whose value the request changes, with their new value."""
    return {name: value for name, value in wanted.given().items()
            if getattr(stored, name) != value}


# --- outcomes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostedOutcome:
    """A lead's outcome as a CRM reports it."""

    outcome: Literal["won", "lost"]
    value: Decimal | None = None  # the final value of the deal
    currency: str | None = None  # ISO 4217

    def detail(self) -> dict[str, Any]:
        return {"outcome": self.outcome,
                "value": f"{self.value:f}" if self.value is not None else None,
                "currency": self.currency}


def posted_outcome(outcome: Literal["won", "lost"], value: Decimal | None,
                   currency: str | None) -> PostedOutcome:
    """A final value is worth nothing without its currency."""
    if value is not None and currency is None:
        raise Refusal("invalid", "a value needs its currency", "currency")
    return PostedOutcome(outcome, value, currency)


@dataclass(frozen=True)
class LeadToClose:
    lead_id: uuid.UUID
    call_id: str
    client_id: uuid.UUID | None
    status: str  # open, won, lost


@dataclass(frozen=True)
class ReportedOutcome:
    """What is known of a lead's outcome reported earlier: `values_known` is False when only
    the lead's status says it (it was closed by another way than this API)."""

    outcome: str
    value: Decimal | None = None
    currency: str | None = None
    values_known: bool = True


def reported_again(earlier: ReportedOutcome | None, posted: PostedOutcome) -> bool:
    """True when the outcome was reported already, as posted now: nothing is to be done. A
    lead's outcome counts once: a different one is refused (a conflict)."""
    if earlier is None:
        return False
    same = earlier.outcome == posted.outcome and (
        not earlier.values_known or (
            earlier.value == posted.value and earlier.currency == posted.currency))
    if not same:
        told = earlier.outcome + (f" with {earlier.value:f} {earlier.currency}"
                                  if earlier.values_known and earlier.value is not None else "")
        raise Refusal("conflict", f"the lead was reported {told} already; "
                      "an outcome counts once", "outcome")
    return True


def deal_closed(lead: LeadToClose, posted: PostedOutcome, now: datetime) -> DealClosed:
    """The event of the outcome; its id comes from the lead and the outcome, so a report the
    lookup publishes twice (a retry after a lost answer) is dropped by its consumers."""
    return DealClosed(event_id=stable_id("deal", lead.lead_id, posted.outcome),
                      occurred_at=now, call_id=lead.call_id, lead_id=lead.lead_id,
                      outcome=posted.outcome, final_value=posted.value,
                      currency=posted.currency)
