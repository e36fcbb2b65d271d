"""Router handlers: decide where each call goes, when the phone rings and again when the
client department has qualified it. A batch of calls at a time (`shared.batches`)."""

from __future__ import annotations

from functools import partial

from services.router import service
from services.router.service import Routing
from shared import topics
from shared.batches import Batch, Records, batch_subscriber
from shared.events import CallEnriched, CallQualified
from shared.kafka import service_router

router = service_router()


@batch_subscriber(router, topics.CALLS_ENRICHED, "router")
async def route_on_call_enriched(records: Records[CallEnriched], deps: Routing = Routing.inject()) -> None:
    async with Batch(records, "router", deps.publisher) as batch:
        await batch.handle_each(CallEnriched, partial(service.route_ringing_call, deps))


@batch_subscriber(router, topics.CALLS_QUALIFIED, "router")
async def route_on_call_qualified(records: Records[CallQualified], deps: Routing = Routing.inject()) -> None:
    async with Batch(records, "router", deps.publisher) as batch:
        await batch.handle_each(CallQualified, partial(service.route_qualified_call, deps))
