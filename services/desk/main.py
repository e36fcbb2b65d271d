"""Composition root of the desk: the people's screens."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from zoneinfo import ZoneInfo

from services.desk.assignment_api import AssignmentApi
from services.desk.handlers import router
from services.desk.http import desk_routes
from services.desk.i18n import Catalogs
from services.desk.live import LIVE_EVENTS, Hub, Live
from services.desk.lookup_api import LookupApi
from services.desk.policy import DeskRules
from services.desk.repository import DeskStore
from services.desk.service import Desk, Invitations
from services.desk.web import Web, install_pages
from shared.access.http import Access, install_refusals
from shared.access.store import AccessStore
from shared.app import database, pool_ready, serve, service_app
from shared.kafka import Publisher, client_options, service_broker
from shared.settings import AssignmentSettings, DeskSettings
from shared.tail import Tail

settings = DeskSettings()
broker = service_broker(settings, "desk")
broker.include_router(router)
Web(catalogs=Catalogs(), zone=ZoneInfo(settings.time_zone)).install(broker)


@asynccontextmanager
async def resources() -> AsyncIterator[dict]:
    async with database(settings) as pool:
        store = DeskStore(pool)
        live = Live(Hub(settings.stream_queue), leads=store)
        tail = Tail(list(LIVE_EVENTS), settings.kafka.bootstrap, client_options(settings.kafka),
                    live.on_record, name="desk-live")
        lookup, assignment = LookupApi(settings.lookup_url), AssignmentApi(settings.assignment_url)
        await tail.start()
        try:
            access = AccessStore(pool)
            Desk(calls=store, clients=lookup, audit=access, publisher=Publisher(broker),
                 live=live, rules=DeskRules.from_settings(settings, AssignmentSettings()),
                 sales=store, inbox=assignment).install(broker)
            Invitations(links=access).install(broker)
            Access(store=access, settings=settings.access).install(broker)
            yield {"database": partial(pool_ready, pool), "live": tail.is_running}
        finally:
            await tail.stop()
            await live.close()
            await lookup.close()
            await assignment.close()


app = service_app("desk", broker, resources,
                  spans=settings.otlp_endpoint is not None)
install_refusals(app)
install_pages(app, broker)
app.include_router(desk_routes(broker, check_sessions_every=settings.session_check_seconds))

if __name__ == "__main__":
    serve(app, settings)
