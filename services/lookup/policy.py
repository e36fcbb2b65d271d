"""What the client base says about a call: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.events import CallEnriched, CallReceived, ClientRef, EmployeeRef, Ownership, derive_event_id


@dataclass(frozen=True)
class OwnershipRecord:
    owner: EmployeeRef
    since: datetime
    last_activity_at: datetime


@dataclass(frozen=True)
class CallerRecord:
    """What the repository found for a caller number."""

    client: ClientRef | None = None
    ownership: OwnershipRecord | None = None


def current_ownership(
    record: OwnershipRecord | None, now: datetime, lapse: timedelta
) -> Ownership | None:
    """An owner stays the owner while they have been in touch within the lapse time
    (30 days by default); after that the client is free again."""
    if record is None or now - record.last_activity_at > lapse:
        return None
    return Ownership(owner=record.owner, since=record.since,
                     last_activity_at=record.last_activity_at)


def enrich(
    call: CallReceived,
    caller: CallerRecord,
    dialed_employee: EmployeeRef | None,
    *,
    now: datetime,
    lapse: timedelta,
) -> CallEnriched:
    return CallEnriched(
        **call.model_dump(exclude={"event_id", "event_type", "occurred_at", "dialect"}),
        event_id=derive_event_id(call.event_id, "enriched"),
        occurred_at=now,
        client=caller.client,
        ownership=current_ownership(caller.ownership, now, lapse),
        dialed_employee=dialed_employee,
    )
