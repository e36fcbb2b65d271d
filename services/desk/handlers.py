"""Desk handlers: keep what people must see of each call (the client base's view, the
ring-time decision, answered and hung up, the verdict), so every page is drawn from the
database. The live updates come from the replica's tail (live.py), not from here. A batch of
records at a time (`shared.batches`), each recorded in order."""

from __future__ import annotations

from functools import partial

from services.desk import service
from services.desk.service import Desk
from shared import topics
from shared.batches import Batch, Records, batch_subscriber
from shared.events import CallEnriched, CallLifecycle, CallQualified, CallRouted, Event
from shared.kafka import service_router

router = service_router()


async def _record_all(records: Records[Event], model: type[Event], deps: Desk) -> None:
    async with Batch(records, "desk", deps.publisher) as batch:
        await batch.handle_each(model, partial(service.record_call, deps))


@batch_subscriber(router, topics.CALLS_ENRICHED, "desk")
async def keep_on_call_enriched(records: Records[CallEnriched],
                                deps: Desk = Desk.inject()) -> None:
    await _record_all(records, CallEnriched, deps)


@batch_subscriber(router, topics.CALLS_ROUTED, "desk")
async def keep_on_call_routed(records: Records[CallRouted], deps: Desk = Desk.inject()) -> None:
    await _record_all(records, CallRouted, deps)


@batch_subscriber(router, topics.CALLS_LIFECYCLE, "desk")
async def keep_on_call_lifecycle(records: Records[CallLifecycle],
                                 deps: Desk = Desk.inject()) -> None:
    await _record_all(records, CallLifecycle, deps)


@batch_subscriber(router, topics.CALLS_QUALIFIED, "desk")
async def keep_on_call_qualified(records: Records[CallQualified],
                                 deps: Desk = Desk.inject()) -> None:
    await _record_all(records, CallQualified, deps)
