"""Desk handlers: keep what people must see of each call (the client base's view, the
ring-time decision, answered and hung up, the verdict), so every page is drawn from the
database. The live updates come from the replica's tail (live.py), not from here."""

from __future__ import annotations

from services.desk import service
from services.desk.service import Desk
from shared import topics
from shared.events import CallEnriched, CallLifecycle, CallQualified, CallRouted
from shared.kafka import group_id, service_router

router = service_router()


@router.subscriber(topics.CALLS_ENRICHED.name, group_id=group_id("desk"),
                   auto_offset_reset="earliest")
async def keep_on_call_enriched(call: CallEnriched, deps: Desk = Desk.inject()) -> None:
    await service.record_call(deps, call)


@router.subscriber(topics.CALLS_ROUTED.name, group_id=group_id("desk"),
                   auto_offset_reset="earliest")
async def keep_on_call_routed(call: CallRouted, deps: Desk = Desk.inject()) -> None:
    await service.record_call(deps, call)


@router.subscriber(topics.CALLS_LIFECYCLE.name, group_id=group_id("desk"),
                   auto_offset_reset="earliest")
async def keep_on_call_lifecycle(call: CallLifecycle, deps: Desk = Desk.inject()) -> None:
    await service.record_call(deps, call)


@router.subscriber(topics.CALLS_QUALIFIED.name, group_id=group_id("desk"),
                   auto_offset_reset="earliest")
async def keep_on_call_qualified(call: CallQualified, deps: Desk = Desk.inject()) -> None:
    await service.record_call(deps, call)
