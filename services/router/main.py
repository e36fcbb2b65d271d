"""Composition root of the router service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.router.handlers import router
from shared.app import serve, service_app
from shared.kafka import make_broker
from shared.settings import RouterSettings

settings = RouterSettings()
broker = make_broker(settings.kafka, "router")
broker.include_router(router)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    yield {}


app = service_app("router", broker, resources)

if __name__ == "__main__":
    serve(app, settings)
