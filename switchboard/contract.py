"""The entry point of `faststream docs gen` (`make docs`): the event contract of the
services, in one broker that is only documented, never started.

Import it only in a process of its own: a FastStream router has one parent, so the contract's
broker takes the services' routers away from the brokers of their `main` modules."""

from faststream import FastStream

from services.assignment.handlers import router as assignment
from services.desk.handlers import router as desk
from services.intake.generic import GenericCallEvent
from services.intake.handlers import router as intake
from services.lookup.handlers import router as lookup
from services.router.handlers import router as routing
from shared import topics
from shared.contract import contract, contract_broker

broker = contract_broker(
    intake, lookup, routing, assignment, desk,
    # Raw PBX payloads: the `generic` dialect is the one we define; the vendors' own
    # (Asterisk, FreeSWITCH, Twilio) are theirs.
    payloads={topics.PBX_EVENTS.name: GenericCallEvent},
)
app = FastStream(broker, specification=contract(broker))
