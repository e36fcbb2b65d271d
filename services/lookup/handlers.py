"""Lookup handlers: who is calling and whose client they are."""

from __future__ import annotations

from datetime import timedelta

from faststream import Context
from faststream.kafka import KafkaResponse, KafkaRouter

from services.lookup.policy import enrich
from services.lookup.repository import ClientBase
from shared import topics
from shared.events import CallReceived, utcnow
from shared.kafka import group_id
from shared.settings import LookupSettings

router = KafkaRouter()


@router.subscriber(topics.CALLS_RECEIVED.name, group_id=group_id("lookup"),
                   auto_offset_reset="earliest")
@router.publisher(topics.CALLS_ENRICHED.name, schema=topics.CALLS_ENRICHED.event)
async def enrich_on_call_received(
    call: CallReceived,
    clients: ClientBase = Context(),
    settings: LookupSettings = Context("lookup_settings"),
) -> KafkaResponse:
    caller = await clients.find_caller(call.caller)
    dialed_employee = await clients.find_employee_by_line(call.dialed)
    enriched = enrich(
        call, caller, dialed_employee,
        now=utcnow(), lapse=timedelta(days=settings.ownership_lapse_days),
    )
    client_id = enriched.client.client_id if enriched.client else None
    return KafkaResponse(enriched, key=topics.event_key(client_id, call.caller, call.call_id))
