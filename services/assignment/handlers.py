"""Assignment handlers: a routed call makes a lead (or not) and someone gets it; a closed
deal counts in its negotiator's record."""

from __future__ import annotations

from services.assignment import service
from services.assignment.service import Assignment
from shared import topics
from shared.events import CallRouted, DealClosed, utcnow
from shared.kafka import group_id, service_router

router = service_router()


@router.subscriber(topics.CALLS_ROUTED.name, group_id=group_id("assignment"),
                   auto_offset_reset="earliest")
async def assign_on_call_routed(routed: CallRouted,
                                deps: Assignment = Assignment.inject()) -> None:
    await service.assign_routed_call(deps, routed, now=utcnow())


@router.subscriber(topics.DEALS_CLOSED.name, group_id=group_id("assignment"),
                   auto_offset_reset="earliest")
async def count_outcome_on_deal_closed(deal: DealClosed,
                                       deps: Assignment = Assignment.inject()) -> None:
    await service.count_outcome(deps, deal)
