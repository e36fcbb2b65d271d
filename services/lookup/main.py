"""Composition root of the lookup service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from services.lookup.handlers import router
from services.lookup.http import caller_routes, client_base_routes
from services.lookup.policy import LookupRules
from services.lookup.repository import ClientBase
from services.lookup.service import Lookup
from shared.access.http import Access, install_refusals, session_routes
from shared.access.store import AccessStore
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import Publisher, service_broker
from shared.settings import LookupSettings

settings = LookupSettings()
broker = service_broker(settings, "lookup")
broker.include_router(router)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        Lookup(clients=ClientBase(pool), publisher=Publisher(broker),
               rules=LookupRules.from_settings(settings)).install(broker)
        Access(store=AccessStore(pool), settings=settings.access).install(broker)
        yield {"database": partial(pool_ready, pool)}


app = service_app("lookup", broker, resources,
                  spans=settings.otlp_endpoint is not None)
install_refusals(app)
app.include_router(caller_routes(broker))
app.include_router(client_base_routes(broker))
# People sign in here until the desk exists.
app.include_router(session_routes(broker))

if __name__ == "__main__":
    serve(app, settings)
