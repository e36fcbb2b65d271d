"""Lookup handlers: who is calling, whose client they are, are they shopping around."""

from __future__ import annotations

from datetime import timedelta

from faststream.kafka import KafkaResponse

from services.lookup.policy import ShoppingRules, detect_shopping, enrich, shopping_alert
from services.lookup.repository import ClientBase
from shared import topics
from shared.events import CallReceived, ShoppingAroundDetected, utcnow
from shared.kafka import Context, group_id, service_router
from shared.settings import LookupSettings

router = service_router()
shopping_alerts = router.publisher(topics.ALERTS_SHOPPING_AROUND.name,
                                   schema=ShoppingAroundDetected)


def shopping_rules(settings: LookupSettings) -> ShoppingRules:
    return ShoppingRules(min_employees=settings.shopping_min_employees,
                         window=timedelta(days=settings.shopping_window_days))


@router.subscriber(topics.CALLS_RECEIVED.name, group_id=group_id("lookup"),
                   auto_offset_reset="earliest")
@router.publisher(topics.CALLS_ENRICHED.name, schema=topics.CALLS_ENRICHED.event)
async def enrich_on_call_received(
    call: CallReceived,
    clients: ClientBase = Context(),
    settings: LookupSettings = Context("lookup_settings"),
) -> KafkaResponse:
    now = utcnow()
    caller = await clients.find_caller(call.caller, call.call_id)
    reached = await clients.find_employee_by_line(call.dialed)
    plain = enrich(call, caller, reached, now=now,
                   lapse=timedelta(days=settings.ownership_lapse_days))
    shopping = None
    if plain.client:
        shopping = detect_shopping(plain.ownership, reached, caller.recent_contacts,
                                   now=now, rules=shopping_rules(settings))
        await clients.record_contact(call.call_id, plain.client.client_id,
                                     reached.employee_id if reached else None,
                                     call.caller, call.dialed, call.started_at)
    enriched = plain if shopping is None else plain.model_copy(
        update={"shopping_around": True, "shopping_rules": shopping.rules})
    key = topics.event_key(enriched.client.client_id if enriched.client else None,
                           call.caller, call.call_id)
    if shopping is not None:
        alert = shopping_alert(enriched, shopping, await clients.heads_of_sales(), now=now)
        await shopping_alerts.publish(alert, key=key)
    return KafkaResponse(enriched, key=key)
