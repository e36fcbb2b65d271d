"""In-memory stand-ins of the desk's ports, and a desk app wired with them: signed-in people
by session cookie, the assignment's inbox and the lookup's outcome API as recorded calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.desk.http import desk_routes
from services.desk.i18n import Catalogs
from services.desk.live import Hub, Live
from services.desk.lookup_api import ApiAnswer, OnBehalf
from services.desk.policy import DeskCall, DeskRules
from services.desk.sales import Colleague, MyLead
from services.desk.service import Desk
from services.desk.web import Web, install_pages
from shared.access.credentials import token_hash
from shared.access.http import SESSION_COOKIE, Access, install_refusals
from shared.access.principals import Principal
from shared.access.store import Session
from shared.events import CallEnriched, utcnow
from shared.settings import AccessSettings

WEB = Web(catalogs=Catalogs(), zone=ZoneInfo("Europe/Moscow"))


class FakeAccessStore:
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.audited: list[tuple[str, str | None]] = []

    def sign_in(self, principal: Principal) -> tuple[str, str]:
        cookie, csrf = f"cookie-{uuid.uuid4().hex}", f"csrf-{uuid.uuid4().hex}"
        self.sessions[token_hash(cookie)] = Session(principal, csrf, utcnow() + timedelta(days=1))
        return cookie, csrf

    async def session(self, session_hash: str, now: datetime, idle: timedelta
                      ) -> Session | None:
        return self.sessions.get(session_hash)

    async def token_principal(self, token_hash: str, now: datetime) -> Principal | None:
        return None

    async def audit(self, principal: Principal | None, action: str, subject: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        self.audited.append((action, subject))


class FakeCalls:
    """The desk's own tables: no calls kept."""

    async def record(self, call: DeskCall) -> None: ...

    async def open_calls(self, since: datetime, limit: int = 500) -> list[DeskCall]:
        return []

    async def find(self, call_id: str) -> DeskCall | None:
        return None

    async def save_locale(self, employee_id: uuid.UUID, locale: str) -> None: ...

    async def client_record(self, client_id: uuid.UUID) -> None:
        return None


@dataclass
class FakeSales:
    colleagues_: list[Colleague] = field(default_factory=list)
    leads: dict[uuid.UUID, MyLead] = field(default_factory=dict)
    shopping: list[CallEnriched] = field(default_factory=list)
    hours: list[tuple[datetime, str | None, int]] = field(default_factory=list)
    days: list[tuple[date, int]] = field(default_factory=list)
    strategies: list[tuple[str, int]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    async def colleagues(self) -> list[Colleague]:
        return list(self.colleagues_)

    async def leads_of(self, employee_id: uuid.UUID, closed_since: datetime) -> list[MyLead]:
        return [lead for lead in self.leads.values() if lead.employee_id == employee_id]

    async def lead(self, lead_id: uuid.UUID) -> MyLead | None:
        return self.leads.get(lead_id)

    async def shopping_calls(self, since: datetime, owner_id: uuid.UUID | None = None,
                             limit: int = 30) -> list[CallEnriched]:
        return [c for c in self.shopping if owner_id is None or (
            c.ownership is not None and c.ownership.owner.employee_id == owner_id)]

    async def calls_per_hour(self, since: datetime, zone: str):
        return list(self.hours)

    async def alerts_per_day(self, since: datetime, zone: str):
        return list(self.days)

    async def commercial_strategies(self, since: datetime):
        return list(self.strategies)

    async def assignment_delays(self, since: datetime):
        return list(self.delays)


@dataclass
class FakeInboxApi:
    leads: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, ApiAnswer] = field(default_factory=dict)  # "keep" / "assign"
    calls: list[tuple[str, uuid.UUID | None, OnBehalf, Any]] = field(default_factory=list)

    async def inbox(self, person: OnBehalf) -> ApiAnswer:
        self.calls.append(("inbox", None, person, None))
        return self.answers.get("inbox") or ApiAnswer(
            200, body={"count": len(self.leads), "leads": list(self.leads)})

    async def keep(self, lead_id: uuid.UUID, person: OnBehalf) -> ApiAnswer:
        self.calls.append(("keep", lead_id, person, None))
        return self.answers.get("keep") or ApiAnswer(200, body={"employee_name": "Head"})

    async def assign(self, lead_id: uuid.UUID, employee_id: uuid.UUID, person: OnBehalf
                     ) -> ApiAnswer:
        self.calls.append(("assign", lead_id, person, employee_id))
        return self.answers.get("assign") or ApiAnswer(200, body={"employee_name": "Anna"})


@dataclass
class FakeLookupApi:
    answer: ApiAnswer = field(default_factory=lambda: ApiAnswer(202, body={}))
    outcomes: list[tuple[uuid.UUID, dict[str, Any], OnBehalf]] = field(default_factory=list)

    async def put_client(self, external_id: str, body: dict[str, Any], person: OnBehalf
                         ) -> ApiAnswer:
        return ApiAnswer(200)

    async def post_outcome(self, lead_id: uuid.UUID, body: dict[str, Any], person: OnBehalf
                           ) -> ApiAnswer:
        self.outcomes.append((lead_id, body, person))
        return self.answer


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


def desk_app(sales: FakeSales | None = None, inbox: FakeInboxApi | None = None,
             lookup: FakeLookupApi | None = None) -> tuple[FastAPI, Desk, FakeAccessStore]:
    broker = KafkaBroker()
    WEB.install(broker)
    access = FakeAccessStore()
    deps = Desk(calls=FakeCalls(), clients=lookup or FakeLookupApi(), audit=access,
                publisher=None,  # type: ignore[arg-type]
                live=Live(Hub(64)), rules=DeskRules(), sales=sales or FakeSales(),
                inbox=inbox or FakeInboxApi()).install(broker)
    Access(store=access, settings=AccessSettings()).install(broker)  # type: ignore[arg-type]
    app = FastAPI()
    install_refusals(app)
    install_pages(app, broker)
    app.include_router(desk_routes(broker))
    return app, deps, access
