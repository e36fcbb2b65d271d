"""Composition root of the intake service."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from services.intake.decisions import RoutedCalls, decided_record
from services.intake.dial import DialPlan
from services.intake.handlers import router
from services.intake.http import pbx_routes
from services.intake.repository import AcceptedCalls
from services.intake.service import Intake, IntakeRules
from shared import topics
from shared.access.http import Access, install_refusals
from shared.access.store import AccessStore
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import Publisher, client_options, service_broker
from shared.settings import IntakeSettings
from shared.tail import Tail

settings = IntakeSettings()
broker = service_broker(settings, "intake")
broker.include_router(router)
dial_plan = DialPlan.from_settings(settings)  # a template that cannot work stops the start


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    for problem in dial_plan.problems():
        logging.getLogger("services.intake").warning("ring-time answers: %s", problem)
    async with database(settings) as pool:
        routed = RoutedCalls()
        listener = Tail([topics.CALLS_ROUTED], settings.kafka.bootstrap,
                        client_options(settings.kafka), decided_record(routed),
                        name="routed calls")
        await listener.start()
        try:
            Intake(calls=AcceptedCalls(pool), publisher=Publisher(broker),
                   rules=IntakeRules.from_settings(settings), dial_plan=dial_plan,
                   routed=routed).install(broker)
            Access(store=AccessStore(pool), settings=settings.access).install(broker)
            yield {"database": partial(pool_ready, pool), "decisions": listener.is_running}
        finally:
            await listener.stop()


app = service_app("intake", broker, resources,
                  spans=settings.otlp_endpoint is not None)
install_refusals(app)
app.include_router(pbx_routes(broker))

if __name__ == "__main__":
    serve(app, settings)
