"""Lookup handlers: who is calling, whose client they are, are they shopping around."""

from __future__ import annotations

from services.lookup import service
from services.lookup.service import Lookup
from shared import topics
from shared.events import CallReceived
from shared.kafka import group_id, service_router

router = service_router()


@router.subscriber(topics.CALLS_RECEIVED.name, group_id=group_id("lookup"),
                   auto_offset_reset="earliest")
async def enrich_on_call_received(call: CallReceived, deps: Lookup = Lookup.inject()) -> None:
    await service.enrich_call(deps, call)
