"""Router handlers: decide where each call goes, when the phone rings and again when the
client department has qualified it."""

from __future__ import annotations

from services.router import service
from services.router.service import Routing
from shared import topics
from shared.events import CallEnriched, CallQualified
from shared.kafka import group_id, service_router

router = service_router()


@router.subscriber(topics.CALLS_ENRICHED.name, group_id=group_id("router"),
                   auto_offset_reset="earliest")
async def route_on_call_enriched(call: CallEnriched, deps: Routing = Routing.inject()) -> None:
    await service.route_ringing_call(deps, call)


@router.subscriber(topics.CALLS_QUALIFIED.name, group_id=group_id("router"),
                   auto_offset_reset="earliest")
async def route_on_call_qualified(call: CallQualified, deps: Routing = Routing.inject()) -> None:
    await service.route_qualified_call(deps, call)
