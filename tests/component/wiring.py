"""The four services' handlers on one in-memory broker, with stand-ins for their ports."""

from __future__ import annotations

from pathlib import Path

from faststream.kafka import KafkaBroker

from services.assignment.handlers import router as assignment_router
from services.intake.handlers import router as intake_router
from services.lookup.handlers import router as lookup_router
from services.router.handlers import router as routing_router
from services.router.in_force import RulesInForce
from shared.settings import IntakeSettings, LookupSettings


def wire_pipeline(broker: KafkaBroker, *, calls: object, clients: object, leads: object,
                  rules_file: Path, intake_settings: IntakeSettings | None = None
                  ) -> KafkaBroker:
    """What each service's composition root puts in the broker context, with the given
    fakes for the accepted calls, the client base and the leads store."""
    for router in (intake_router, lookup_router, routing_router, assignment_router):
        broker.include_router(router)
    broker.context.set_global("intake_settings", intake_settings or IntakeSettings())
    broker.context.set_global("lookup_settings", LookupSettings())
    broker.context.set_global("calls", calls)
    broker.context.set_global("clients", clients)
    broker.context.set_global("leads", leads)
    broker.context.set_global("router_rules", RulesInForce.load(rules_file))
    return broker
