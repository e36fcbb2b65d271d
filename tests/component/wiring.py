"""The services wired as their composition roots wire them, with the fakes of tests/fakes for
their ports: the four pipeline services' handlers on one in-memory broker, and the desk's
pages and endpoints as an ASGI app with people signed in by session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.assignment.handlers import router as assignment_router
from services.assignment.policy import AssignmentRules
from services.assignment.service import Assignment, LeadStore
from services.desk.http import desk_routes
from services.desk.i18n import Catalogs
from services.desk.live import Hub, Live
from services.desk.policy import DeskRules
from services.desk.service import Desk, Invitations
from services.desk.web import Web, install_pages
from services.intake.handlers import router as intake_router
from services.intake.service import AcceptedCallsPort, Intake, IntakeRules
from services.lookup.handlers import router as lookup_router
from services.lookup.policy import LookupRules
from services.lookup.service import ClientBasePort, Lookup
from services.router.handlers import router as routing_router
from services.router.in_force import RulesInForce
from services.router.service import Routing
from shared.access.http import SESSION_COOKIE, Access, install_refusals
from shared.access.principals import Principal
from shared.kafka import Publisher
from shared.settings import AccessSettings, IntakeSettings, LookupSettings
from tests.fakes.desk import FakeAccessStore, FakeDeskCalls, FakeInboxApi, FakeLookupApi, FakeSales


def wire_pipeline(broker: KafkaBroker, *, calls: AcceptedCallsPort, clients: ClientBasePort,
                  leads: LeadStore, rules_file: Path,
                  intake_settings: IntakeSettings | None = None) -> KafkaBroker:
    """The four services on `broker`, with the given stand-ins for the accepted calls, the
    client base and the lead store."""
    for router in (intake_router, lookup_router, routing_router, assignment_router):
        broker.include_router(router)
    publisher = Publisher(broker)
    Intake(calls=calls, publisher=publisher,
           rules=IntakeRules.from_settings(intake_settings or IntakeSettings())).install(broker)
    Lookup(clients=clients, publisher=publisher,
           rules=LookupRules.from_settings(LookupSettings())).install(broker)
    Routing(publisher=publisher, rules=RulesInForce.load(rules_file)).install(broker)
    Assignment(leads=leads, publisher=publisher, rules=AssignmentRules()).install(broker)
    return broker


WEB = Web(catalogs=Catalogs(), zone=ZoneInfo("Europe/Moscow"))


def desk_app(sales: FakeSales | None = None, inbox: FakeInboxApi | None = None,
             lookup: FakeLookupApi | None = None, *, access: FakeAccessStore | None = None,
             settings: AccessSettings | None = None) -> tuple[FastAPI, Desk, FakeAccessStore]:
    """The desk's app on a broker that is not started: what it publishes fails unless the
    test runs it in `TestKafkaBroker`. The access store in memory serves sign-in and the
    invitation page as well."""
    broker = KafkaBroker()
    WEB.install(broker)
    access = access or FakeAccessStore()
    deps = Desk(calls=FakeDeskCalls(), clients=lookup or FakeLookupApi(), audit=access,
                publisher=Publisher(broker), live=Live(Hub(64)), rules=DeskRules(),
                sales=sales or FakeSales(), inbox=inbox or FakeInboxApi()).install(broker)
    Invitations(links=access).install(broker)
    # `Access.store` is the AccessStore class, which has no port the fake could name.
    Access(store=access,  # type: ignore[arg-type]
           settings=settings or AccessSettings()).install(broker)
    app = FastAPI()
    install_refusals(app)
    install_pages(app, broker)
    app.include_router(desk_routes(broker))
    return app, deps, access


@dataclass
class DeskApp:
    http: httpx.AsyncClient
    deps: Desk
    access: FakeAccessStore
    sales: FakeSales
    inbox: FakeInboxApi
    lookup: FakeLookupApi

    def person(self, principal: Principal) -> Browser:
        cookie, csrf = self.access.sign_in(principal)
        return Browser(self.http, cookie, csrf)


@dataclass
class Browser:
    """A signed-in person's browser: the session cookie on every request, the CSRF token
    and htmx's header on a change unless told otherwise."""

    http: httpx.AsyncClient
    cookie: str
    csrf: str

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path, headers={"Cookie": f"{SESSION_COOKIE}={self.cookie}"})

    async def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
                   htmx: bool = True) -> httpx.Response:
        headers = {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}
        if htmx:
            headers["HX-Request"] = "true"
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return await self.http.post(path, data=data or {}, headers=headers)
