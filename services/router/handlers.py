"""Router handlers: decide where each enriched call goes."""

from __future__ import annotations

from faststream.kafka import KafkaResponse, KafkaRouter

from services.router.policy import route
from shared import topics
from shared.events import CallEnriched, utcnow
from shared.kafka import group_id

router = KafkaRouter()


@router.subscriber(topics.CALLS_ENRICHED.name, group_id=group_id("router"),
                   auto_offset_reset="earliest")
@router.publisher(topics.CALLS_ROUTED.name, schema=topics.CALLS_ROUTED.event)
async def route_on_call_enriched(call: CallEnriched) -> KafkaResponse:
    routed = route(call, now=utcnow())
    return KafkaResponse(routed, key=topics.event_key(routed.client_id, call.caller, call.call_id))
