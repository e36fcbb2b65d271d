"""Assignment handlers: record each decision once, create and announce leads."""

from __future__ import annotations

from faststream import Context
from faststream.kafka import KafkaBroker, KafkaRouter

from services.assignment.policy import plan_lead
from services.assignment.repository import Leads
from shared import topics
from shared.events import CallRouted, LeadAssigned, derive_event_id, utcnow
from shared.kafka import group_id

router = KafkaRouter()
lead_assigned = router.publisher(topics.LEADS_ASSIGNED.name, schema=LeadAssigned)


@router.subscriber(topics.CALLS_ROUTED.name, group_id=group_id("assignment"),
                   auto_offset_reset="earliest")
async def assign_on_call_routed(routed: CallRouted, leads: Leads = Context()) -> None:
    pending = await leads.record(routed, plan_lead(routed))
    if pending is None:
        return  # no lead, or announced already (a redelivery)
    await lead_assigned.publish(
        LeadAssigned(
            event_id=derive_event_id(pending.lead_id, "assigned"),
            occurred_at=utcnow(),
            call_id=routed.call_id,
            lead_id=pending.lead_id,
            client_id=pending.client_id,
            employee_id=pending.employee_id,
            employee_name=pending.employee_name,
            department=pending.department,
            strategy=pending.strategy,
        ),
        key=topics.event_key(pending.client_id, routed.call_id),
    )
    # Marked only after Kafka acknowledged it: a crash in between re-publishes the same
    # event id, which consumers drop.
    await leads.mark_published(pending.lead_id)
