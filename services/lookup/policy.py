"""What the client base says about a call: pure rules, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from shared import business
from shared.events import (CallEnriched, CallReceived, ClientRef, ContactRef, EmployeeRef,
                           LeadRef, Ownership, ShoppingAroundDetected, ShoppingRule,
                           derive_event_id)
from shared.settings import LookupSettings


class Contact(NamedTuple):
    """A call of a known client, as the contact log keeps it."""

    call_id: str
    client_id: uuid.UUID
    employee_id: uuid.UUID | None
    caller: str | None
    dialed: str
    occurred_at: datetime


@dataclass(frozen=True)
class OwnershipRecord:
    owner: EmployeeRef
    since: datetime
    last_activity_at: datetime
    head: EmployeeRef | None = None  # the head of the owner's department


@dataclass(frozen=True)
class CallerRecord:
    """What the repository found for a caller number."""

    client: ClientRef | None = None
    ownership: OwnershipRecord | None = None
    open_leads: list[LeadRef] = field(default_factory=list)
    recent_contacts: list[ContactRef] = field(default_factory=list)  # newest first


@dataclass(frozen=True)
class ShoppingRules:
    min_employees: int = business.SHOPPING_MIN_EMPLOYEES  # K: this many different employees...
    window: timedelta = timedelta(days=business.SHOPPING_WINDOW_DAYS)  # W: ...within this window


@dataclass(frozen=True)
class LookupRules:
    """What the lookup decides by: when an ownership lapses, when a client is shopping around,
    and the region of a phone number written without its country code."""

    ownership_lapse: timedelta = timedelta(days=business.OWNERSHIP_LAPSE_DAYS)
    shopping: ShoppingRules = field(default_factory=ShoppingRules)
    default_region: str = "RU"

    @classmethod
    def from_settings(cls, settings: LookupSettings) -> LookupRules:
        return cls(
            ownership_lapse=timedelta(days=settings.ownership_lapse_days),
            shopping=ShoppingRules(min_employees=settings.shopping_min_employees,
                                   window=timedelta(days=settings.shopping_window_days)),
            default_region=settings.default_region,
        )


@dataclass(frozen=True)
class Shopping:
    rules: list[ShoppingRule]
    reasons: list[str]
    history: list[ContactRef]


def current_ownership(
    record: OwnershipRecord | None, now: datetime, lapse: timedelta
) -> Ownership | None:
    """An owner stays the owner while they have been in touch within the lapse time
    (`business.OWNERSHIP_LAPSE_DAYS` by default); after that the client is free again."""
    if record is None or now - record.last_activity_at > lapse:
        return None
    return Ownership(owner=record.owner, since=record.since,
                     last_activity_at=record.last_activity_at)


def detect_shopping(
    ownership: Ownership | None,
    reached: EmployeeRef | None,
    history: list[ContactRef],
    *,
    now: datetime,
    rules: ShoppingRules,
) -> Shopping | None:
    """A client is shopping around when
    - they are owned and reach someone other than the owner (another employee's line or a
      general line) while the ownership is active: the "playing dumb" call of the seed; or
    - they contacted at least K different employees within the window W (this call included).
    """
    fired: list[ShoppingRule] = []
    reasons: list[str] = []
    if ownership and (reached is None or reached.employee_id != ownership.owner.employee_id):
        fired.append(ShoppingRule.OTHER_THAN_OWNER)
        whom = reached.name if reached else "a general line"
        reasons.append(f"owned by {ownership.owner.name} but called {whom}")
    recent = [c for c in history if now - c.occurred_at <= rules.window]
    employees = {c.employee.employee_id for c in recent if c.employee}
    if reached:
        employees.add(reached.employee_id)
    if len(employees) >= rules.min_employees:
        fired.append(ShoppingRule.MANY_EMPLOYEES)
        reasons.append(f"reached {len(employees)} different employees within "
                       f"{rules.window.days} days")
    if not fired:
        return None
    return Shopping(fired, reasons, recent)


def enrich(
    call: CallReceived,
    caller: CallerRecord,
    dialed_employee: EmployeeRef | None,
    *,
    now: datetime,
    lapse: timedelta,
) -> CallEnriched:
    """The call with what the client base says about the caller; shopping around is
    detected afterwards, from the ownership found here."""
    ownership = current_ownership(caller.ownership, now, lapse)
    return CallEnriched(
        **call.model_dump(exclude={"event_id", "event_type", "occurred_at", "dialect"}),
        event_id=derive_event_id(call.event_id, "enriched"),
        occurred_at=now,
        client=caller.client,
        ownership=ownership,
        owner_head=caller.ownership.head if ownership and caller.ownership else None,
        dialed_employee=dialed_employee,
        open_leads=caller.open_leads,
        recent_contacts=caller.recent_contacts,
    )


def with_contacts(caller: CallerRecord, earlier: list[ContactRef]) -> CallerRecord:
    """The caller's record with contacts the client base does not show yet (earlier calls of
    the same batch), newest first, each call once."""
    if not earlier:
        return caller
    known = {c.call_id for c in caller.recent_contacts}
    contacts = [*caller.recent_contacts, *(c for c in earlier if c.call_id not in known)]
    contacts.sort(key=lambda c: c.occurred_at, reverse=True)
    return replace(caller, recent_contacts=contacts)


def shopping_alert(
    enriched: CallEnriched, shopping: Shopping, heads: list[uuid.UUID], *, now: datetime
) -> ShoppingAroundDetected:
    """The alert goes to the owner and to the head(s) of sales."""
    assert enriched.client is not None
    owner = enriched.ownership.owner if enriched.ownership else None
    notify = ([owner.employee_id] if owner else []) + [h for h in heads if not owner
                                                      or h != owner.employee_id]
    return ShoppingAroundDetected(
        event_id=derive_event_id(enriched.event_id, "shopping"),
        occurred_at=now,
        call_id=enriched.call_id,
        client=enriched.client,
        owner=owner,
        reached=enriched.dialed_employee,
        rules=shopping.rules,
        reasons=shopping.reasons,
        history=shopping.history,
        notify=notify,
    )
