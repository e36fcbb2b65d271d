"""The router's use cases: decide where a call goes by the rules in force, when the phone
rings and again when the client department has qualified it, and publish the decision."""

from __future__ import annotations

from dataclasses import dataclass

from services.router.in_force import RulesInForce
from services.router.policy import qualify, route
from shared import topics
from shared.events import CallEnriched, CallQualified, CallRouted, utcnow
from shared.kafka import PublisherPort
from shared.wiring import Dependencies


@dataclass(frozen=True)
class Routing(Dependencies):
    publisher: PublisherPort
    rules: RulesInForce


async def route_ringing_call(deps: Routing, call: CallEnriched) -> None:
    await _publish(deps, route(call, deps.rules.current, utcnow()))


async def route_qualified_call(deps: Routing, call: CallQualified) -> None:
    await _publish(deps, qualify(call, deps.rules.current, utcnow()))


async def _publish(deps: Routing, routed: CallRouted) -> None:
    key = topics.event_key(routed.client_id, routed.caller, routed.call_id)
    await deps.publisher.publish(topics.CALLS_ROUTED, routed, key=key)
