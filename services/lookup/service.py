"""The lookup's use cases: what happens when a call comes in (who is calling, whose client,
are they shopping around) and when an operator looks a number up. The client base is read
through its port; the decisions are the policy's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.lookup.policy import (CallerRecord, LookupRules, Shopping, current_ownership,
                                    detect_shopping, enrich, shopping_alert)
from shared import topics
from shared.events import CallReceived, EmployeeRef, Ownership, utcnow
from shared.kafka import Publisher
from shared.phones import normalise
from shared.wiring import Dependencies


class ClientBasePort(Protocol):
    """What the use cases need from the client base (`repository.ClientBase`)."""

    async def find_caller(self, number: str | None, call_id: str = "") -> CallerRecord: ...

    async def find_employee_by_line(self, dialed: str) -> EmployeeRef | None: ...

    async def heads_of_sales(self) -> list[uuid.UUID]: ...

    async def record_contact(self, call_id: str, client_id: uuid.UUID,
                             employee_id: uuid.UUID | None, caller: str | None, dialed: str,
                             occurred_at: datetime) -> None: ...


@dataclass(frozen=True)
class Lookup(Dependencies):
    clients: ClientBasePort
    publisher: Publisher
    rules: LookupRules


async def enrich_call(deps: Lookup, call: CallReceived) -> None:
    """Publishes the call with its client, owner and history to calls.enriched; a known
    caller's contact is recorded, and when they are shopping around the owner and the heads
    of sales are alerted first (alerts.shopping-around, with the same key)."""
    now = utcnow()
    caller = await deps.clients.find_caller(call.caller, call.call_id)
    reached = await deps.clients.find_employee_by_line(call.dialed)
    enriched = enrich(call, caller, reached, now=now, lapse=deps.rules.ownership_lapse)
    shopping = None
    if enriched.client:
        shopping = detect_shopping(enriched.ownership, reached, caller.recent_contacts,
                                   now=now, rules=deps.rules.shopping)
        await deps.clients.record_contact(call.call_id, enriched.client.client_id,
                                          reached.employee_id if reached else None,
                                          call.caller, call.dialed, call.started_at)
    if shopping is not None:
        enriched = enriched.model_copy(
            update={"shopping_around": True, "shopping_rules": shopping.rules})
    key = topics.event_key(enriched.client.client_id if enriched.client else None,
                           call.caller, call.call_id)
    if shopping is not None:
        alert = shopping_alert(enriched, shopping, await deps.clients.heads_of_sales(), now=now)
        await deps.publisher.publish(topics.ALERTS_SHOPPING_AROUND, alert, key=key)
    await deps.publisher.publish(topics.CALLS_ENRICHED, enriched, key=key)


@dataclass(frozen=True)
class CallerView:
    """What the operator's screen shows for a number (`caller.client` is None when the number
    is not in the client base)."""

    phone: str
    caller: CallerRecord
    ownership: Ownership | None = None
    shopping: Shopping | None = None


async def look_up_caller(deps: Lookup, phone: str) -> CallerView | None:
    """The caller behind a number as a person typed it; None when it is not a phone number."""
    number = normalise(phone, deps.rules.default_region)
    if number.value is None:  # withheld or unparseable
        return None
    caller = await deps.clients.find_caller(number.value)
    if caller.client is None:
        return CallerView(number.value, caller)
    now = utcnow()
    # Without a call in progress only the history can tell: K employees within W.
    return CallerView(
        number.value, caller,
        ownership=current_ownership(caller.ownership, now, deps.rules.ownership_lapse),
        shopping=detect_shopping(None, None, caller.recent_contacts, now=now,
                                 rules=deps.rules.shopping),
    )
