"""Router handlers: decide where each call goes, when the phone rings and again when the
client department has qualified it."""

from __future__ import annotations

from faststream.kafka import KafkaResponse

from services.router.in_force import RulesInForce
from services.router.policy import qualify, route
from shared import topics
from shared.events import CallEnriched, CallQualified, utcnow
from shared.kafka import Context, group_id, service_router

router = service_router()


def rules_in_force(rules: RulesInForce | None) -> RulesInForce:
    # Set by the composition root. Without it no call may be decided, and none rejected
    # either (it is not the input's fault): the message stays uncommitted.
    if rules is None:
        raise RuntimeError("no routing rules in the broker context (`router_rules`)")
    return rules


@router.subscriber(topics.CALLS_ENRICHED.name, group_id=group_id("router"),
                   auto_offset_reset="earliest")
@router.publisher(topics.CALLS_ROUTED.name, schema=topics.CALLS_ROUTED.event)
async def route_on_call_enriched(
    call: CallEnriched, rules: RulesInForce | None = Context("router_rules", default=None)
) -> KafkaResponse:
    routed = route(call, rules_in_force(rules).current, utcnow())
    return KafkaResponse(routed, key=topics.event_key(routed.client_id, call.caller, call.call_id))


@router.subscriber(topics.CALLS_QUALIFIED.name, group_id=group_id("router"),
                   auto_offset_reset="earliest")
@router.publisher(topics.CALLS_ROUTED.name, schema=topics.CALLS_ROUTED.event)
async def route_on_call_qualified(
    call: CallQualified, rules: RulesInForce | None = Context("router_rules", default=None)
) -> KafkaResponse:
    routed = qualify(call, rules_in_force(rules).current, utcnow())
    return KafkaResponse(routed, key=topics.event_key(routed.client_id, call.caller, call.call_id))
