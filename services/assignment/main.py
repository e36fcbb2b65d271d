"""Composition root of the assignment service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from services.assignment.deadlines import deadline_task
from services.assignment.handlers import router
from services.assignment.http import install_inbox
from services.assignment.policy import AssignmentRules
from services.assignment.repository import Repository
from services.assignment.service import Assignment
from shared.access.http import Access, install_refusals
from shared.access.store import AccessStore
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import Publisher, service_broker
from shared.settings import AssignmentSettings

settings = AssignmentSettings()
broker = service_broker(settings, "assignment")
broker.include_router(router)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        deps = Assignment(
            leads=Repository(pool),
            publisher=Publisher(broker),
            rules=AssignmentRules.from_settings(settings),
            head_email=settings.head_email,
        ).install(broker)
        Access(store=AccessStore(pool), settings=settings.access).install(broker)
        async with deadline_task(deps, broker, settings.deadline_poll_seconds,
                                 timedelta(seconds=settings.relay_after_seconds)):
            yield {"database": partial(pool_ready, pool)}


app = service_app("assignment", broker, resources,
                  spans=settings.otlp_endpoint is not None)
install_refusals(app)
install_inbox(app, broker)

if __name__ == "__main__":
    serve(app, settings)
