"""Composition root of the assignment service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from services.assignment.handlers import router
from services.assignment.repository import Leads
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import make_broker
from shared.settings import AssignmentSettings

settings = AssignmentSettings()
broker = make_broker(settings.kafka, "assignment")
broker.include_router(router)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        broker.context.set_global("leads", Leads(pool))
        yield {"database": partial(pool_ready, pool)}


app = service_app("assignment", broker, resources)

if __name__ == "__main__":
    serve(app, settings)
