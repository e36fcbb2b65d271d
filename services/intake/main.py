"""Composition root of the intake service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from services.intake.handlers import router
from services.intake.http import pbx_routes
from services.intake.repository import AcceptedCalls
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import service_broker
from shared.settings import IntakeSettings

settings = IntakeSettings()
broker = service_broker(settings, "intake")
broker.include_router(router)
broker.context.set_global("intake_settings", settings)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        broker.context.set_global("calls", AcceptedCalls(pool))
        yield {"database": partial(pool_ready, pool)}


app = service_app("intake", broker, resources)
app.include_router(pbx_routes(broker, settings))

if __name__ == "__main__":
    serve(app, settings)
