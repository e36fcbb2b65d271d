"""Composition root of the lookup service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from services.lookup.handlers import router
from services.lookup.http import caller_routes
from services.lookup.repository import ClientBase
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import service_broker
from shared.settings import LookupSettings

settings = LookupSettings()
broker = service_broker(settings, "lookup")
broker.include_router(router)
broker.context.set_global("lookup_settings", settings)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        broker.context.set_global("clients", ClientBase(pool))
        yield {"database": partial(pool_ready, pool)}


app = service_app("lookup", broker, resources)
app.include_router(caller_routes(broker, settings))

if __name__ == "__main__":
    serve(app, settings)
