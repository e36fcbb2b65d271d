"""Assignment handlers: a routed call makes a lead (or not) and someone gets it; a closed
deal counts in its negotiator's record."""

from __future__ import annotations

from services.assignment.policy import PendingLead, assigned_event, plan_lead
from services.assignment.service import Leads
from shared import topics
from shared.events import CallRouted, DealClosed, LeadAssigned, utcnow
from shared.kafka import Context, group_id, service_router

router = service_router()
lead_assigned = router.publisher(topics.LEADS_ASSIGNED.name, schema=LeadAssigned)


async def publish_assigned(pending: PendingLead, call_id: str = "") -> None:
    event = assigned_event(pending, call_id=call_id, now=utcnow())
    await lead_assigned.publish(event, key=topics.event_key(pending.client_id, event.call_id))


async def announce(leads: Leads, pending: PendingLead, call_id: str = "") -> None:
    """Publishes `leads.assigned` for a decided lead and marks it published, only after Kafka
    acknowledged it: after a crash in between, the deadline task publishes the same event
    again (same id, which consumers drop)."""
    await publish_assigned(pending, call_id)
    await leads.mark_published(pending.lead_id)


@router.subscriber(topics.CALLS_ROUTED.name, group_id=group_id("assignment"),
                   auto_offset_reset="earliest")
async def assign_on_call_routed(routed: CallRouted, leads: Leads = Context()) -> None:
    pending = await leads.record(routed, plan_lead(routed, now=utcnow()))
    if pending is not None:  # None: no lead, in the head's inbox, or announced already
        await announce(leads, pending, routed.call_id)


@router.subscriber(topics.DEALS_CLOSED.name, group_id=group_id("assignment"),
                   auto_offset_reset="earliest")
async def count_outcome_on_deal_closed(deal: DealClosed, leads: Leads = Context()) -> None:
    await leads.record_outcome(deal)
