"""Composition root of the intake service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from services.intake.handlers import router
from services.intake.http import pbx_routes
from services.intake.repository import AcceptedCalls
from services.intake.service import Intake, IntakeRules
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import Publisher, service_broker
from shared.settings import IntakeSettings

settings = IntakeSettings()
broker = service_broker(settings, "intake")
broker.include_router(router)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        Intake(calls=AcceptedCalls(pool), publisher=Publisher(broker),
               rules=IntakeRules.from_settings(settings)).install(broker)
        yield {"database": partial(pool_ready, pool)}


app = service_app("intake", broker, resources)
app.include_router(pbx_routes(broker))

if __name__ == "__main__":
    serve(app, settings)
