"""Lookup handlers: who is calling, whose client they are, are they shopping around. A batch
of calls at a time (`shared.batches`): one look-up and one contact write for all of them."""

from __future__ import annotations

from services.lookup import service
from services.lookup.service import Lookup
from shared import topics
from shared.batches import Batch, Records, batch_subscriber
from shared.events import CallReceived
from shared.kafka import service_router

router = service_router()


@batch_subscriber(router, topics.CALLS_RECEIVED, "lookup")
async def enrich_on_call_received(records: Records[CallReceived],
                                  deps: Lookup = Lookup.inject()) -> None:
    async with Batch(records, "lookup", deps.publisher) as batch:
        items = await batch.parse(CallReceived)
        enrichments = await service.enrich_calls(deps, [item.event for item in items])
        for item, enrichment in zip(items, enrichments, strict=True):
            with batch.about(item.record):
                await service.publish_enrichment(deps, enrichment)
