"""The four services' handlers on one in-memory broker, each with its dependencies object
built as its composition root builds it, with the fakes of tests/fakes for its ports."""

from __future__ import annotations

from pathlib import Path

from faststream.kafka import KafkaBroker

from services.assignment.handlers import router as assignment_router
from services.assignment.policy import AssignmentRules
from services.assignment.service import Assignment, LeadStore
from services.intake.handlers import router as intake_router
from services.intake.service import AcceptedCallsPort, Intake, IntakeRules
from services.lookup.handlers import router as lookup_router
from services.lookup.policy import LookupRules
from services.lookup.service import ClientBasePort, Lookup
from services.router.handlers import router as routing_router
from services.router.in_force import RulesInForce
from services.router.service import Routing
from shared.kafka import Publisher
from shared.settings import IntakeSettings, LookupSettings


def wire_pipeline(broker: KafkaBroker, *, calls: AcceptedCallsPort, clients: ClientBasePort,
                  leads: LeadStore, rules_file: Path,
                  intake_settings: IntakeSettings | None = None) -> KafkaBroker:
    """The four services on `broker`, with the given stand-ins for the accepted calls, the
    client base and the lead store."""
    for router in (intake_router, lookup_router, routing_router, assignment_router):
        broker.include_router(router)
    publisher = Publisher(broker)
    Intake(calls=calls, publisher=publisher,
           rules=IntakeRules.from_settings(intake_settings or IntakeSettings())).install(broker)
    Lookup(clients=clients, publisher=publisher,
           rules=LookupRules.from_settings(LookupSettings())).install(broker)
    Routing(publisher=publisher, rules=RulesInForce.load(rules_file)).install(broker)
    Assignment(leads=leads, publisher=publisher, rules=AssignmentRules()).install(broker)
    return broker
