"""Composition root of the router service."""

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from services.router.handlers import router
from services.router.http import rules_routes
from services.router.in_force import RulesInForce
from services.router.rules import RulesError
from services.router.service import Routing
from shared.access.http import Access, install_refusals
from shared.access.store import AccessStore
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import Publisher, service_broker
from shared.settings import RouterSettings

settings = RouterSettings()
broker = service_broker(settings, "router")
broker.include_router(router)
try:
    rules = RulesInForce.from_settings(settings)
except RulesError as error:  # nothing to route by: stop with the reason
    sys.exit(f"router: {error}")


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    # Routing needs no database; who may read the rules does.
    async with database(settings) as pool:
        Routing(publisher=Publisher(broker), rules=rules).install(broker)
        Access(store=AccessStore(pool), settings=settings.access).install(broker)
        logging.getLogger(__name__).info("routing rules %s in force, from %s",
                                         rules.current.version, rules.path)
        watching = asyncio.create_task(rules.watch())
        try:
            yield {"database": partial(pool_ready, pool)}
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching


app = service_app("router", broker, resources,
                  spans=settings.otlp_endpoint is not None)
install_refusals(app)
app.include_router(rules_routes(broker))

if __name__ == "__main__":
    serve(app, settings)
