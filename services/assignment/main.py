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
from services.assignment.service import Leads
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import service_broker
from shared.settings import AssignmentSettings

settings = AssignmentSettings()
broker = service_broker(settings, "assignment")
broker.include_router(router)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        leads = Leads(Repository(pool), AssignmentRules.from_settings(settings),
                      head_email=settings.head_email)
        broker.context.set_global("leads", leads)
        async with deadline_task(leads, broker, settings.deadline_poll_seconds,
                                 timedelta(seconds=settings.relay_after_seconds)):
            yield {"database": partial(pool_ready, pool)}


app = service_app("assignment", broker, resources)
install_inbox(app, broker)

if __name__ == "__main__":
    serve(app, settings)
