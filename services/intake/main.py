"""Composition root of the intake service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.intake.handlers import router
from services.intake.http import pbx_routes
from shared.app import serve, service_app
from shared.kafka import make_broker
from shared.settings import IntakeSettings

settings = IntakeSettings()
broker = make_broker(settings.kafka, "intake")
broker.include_router(router)
broker.context.set_global("intake_settings", settings)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    yield {}


app = service_app("intake", broker, resources)
app.include_router(pbx_routes(broker, settings))

if __name__ == "__main__":
    serve(app, settings)
