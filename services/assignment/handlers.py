"""Assignment handlers: a routed call makes a lead (or not) and someone gets it; a closed
deal counts in its negotiator's record. A batch of records at a time (`shared.batches`): the
decisions that make no lead in one transaction, each other record in its own, in order; what
they announce is confirmed together."""

from __future__ import annotations

from functools import partial

from services.assignment import service
from services.assignment.service import Assignment
from shared import topics
from shared.batches import Batch, Records, batch_subscriber
from shared.events import CallRouted, DealClosed, utcnow
from shared.kafka import service_router

router = service_router()


@batch_subscriber(router, topics.CALLS_ROUTED, "assignment")
async def assign_on_call_routed(records: Records[CallRouted],
                                deps: Assignment = Assignment.inject()) -> None:
    async with Batch(records, "assignment", deps.publisher) as batch:
        await service.assign_routed_calls(deps, batch, await batch.parse(CallRouted),
                                          now=utcnow())


@batch_subscriber(router, topics.DEALS_CLOSED, "assignment")
async def count_outcome_on_deal_closed(records: Records[DealClosed],
                                       deps: Assignment = Assignment.inject()) -> None:
    async with Batch(records, "assignment", deps.publisher) as batch:
        await batch.handle_each(DealClosed, partial(service.count_outcome, deps))
