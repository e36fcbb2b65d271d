"""Who may open what on the desk, on the real stack (the session's desk, lookup and
assignment): the table of every route of the desk's app — nobody signed in is sent to /login
(htmx gets `HX-Redirect`), a principal of the wrong role or scope gets 403, the right one
gets its page or its change done — and the invitation link `switchboard user invite` prints,
opened on the desk: the password set once, then signed in with; a used, replaced or expired
link refused; and the sign-in form, refused when sent from another site.

A route of the desk without an entry in ROUTES (or in PUBLIC) fails
`test_every_route_of_the_desk_has_an_entry`. Each sign-in comes from its own address
(`X-Forwarded-For`), so the sign-in rate limit of one test never meets another."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from services.desk.policy import dom_id
from shared.access.credentials import hash_password, token_hash
from switchboard.cli import app as cli
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, Endpoints
from tests.support import (api_token, generic_call, query_rows, random_id, random_phone,
                           seed_employee, signed)

pytestmark = pytest.mark.integration

DOMAIN = "desk-access-it.example"
PASSWORD = "correct horse battery staple"
FORBIDDEN = "У вас нет доступа к этому разделу"


def address() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}."
                               f"{random.randrange(1, 255)}"}


# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Entry:
    """One route: who may (`right`, and what they get), who may not (`wrong`: 403). `path`
    and `data` may name things the fixture made (`{call_form}`, `{negotiator_id}`...)."""

    path: str
    right: str
    status: int
    wrong: tuple[str, ...] = ()
    data: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    stream: bool = False


# (method, the route's path as the app declares it) -> its entry
ROUTES: dict[tuple[str, str], Entry] = {
    # every signed-in principal has a home, a language and a way out
    ("GET", "/"): Entry("/", "operator", 303),
    ("POST", "/locale"): Entry("/locale", "operator", 303, data={"locale": "ru"}),
    ("POST", "/logout"): Entry("/logout", "leaver", 303),
    ("POST", "/logout/everywhere"): Entry("/logout/everywhere", "leaver", 303),
    # the operator's screen and the card's forms: the card shows who is calling
    ("GET", "/operator"): Entry("/operator", "operator", 200,
                                wrong=("negotiator", "reader", "qualifier")),
    ("GET", "/operator/events"): Entry("/operator/events", "operator", 200,
                                       wrong=("negotiator", "reader"), stream=True),
    ("POST", "/operator/calls/{call_id:path}/qualification"): Entry(
        "/operator/calls/{call_form}/qualification", "operator", 303,
        wrong=("qualifier", "reader"), data={"category": "spam"}),
    ("POST", "/operator/calls/{call_id:path}/client"): Entry(
        "/operator/calls/{call_client}/client", "operator", 200,
        wrong=("qualifier", "reader", "writer"),
        data={"name": "Ivan Petrov", "segment": "individual"}),
    ("POST", "/operator/calls/{call_id:path}/not-this-client"): Entry(
        "/operator/calls/{call_known}/not-this-client", "operator", 200,
        wrong=("qualifier", "reader", "writer")),
    # the head of sales' inbox and dashboard
    ("GET", "/inbox"): Entry("/inbox", "head", 200, wrong=("operator", "negotiator", "inbox")),
    ("GET", "/inbox/events"): Entry("/inbox/events", "head", 200,
                                    wrong=("operator", "negotiator", "inbox"), stream=True),
    ("POST", "/inbox/leads/{lead_id}/keep"): Entry(
        "/inbox/leads/{kept_lead}/keep", "head", 303, wrong=("operator", "negotiator", "inbox")),
    ("POST", "/inbox/leads/{lead_id}/assign"): Entry(
        "/inbox/leads/{given_lead}/assign", "head", 303,
        wrong=("operator", "negotiator", "inbox"), data={"employee_id": "{negotiator_id}"}),
    ("GET", "/dashboard"): Entry("/dashboard", "head", 200,
                                 wrong=("operator", "negotiator", "reader")),
    # a person's own leads and calls
    ("GET", "/leads"): Entry("/leads", "negotiator", 200, wrong=("reader", "reporter")),
    ("GET", "/leads/events"): Entry("/leads/events", "negotiator", 200,
                                    wrong=("reader", "reporter"), stream=True),
    ("POST", "/leads/{lead_id}/outcome"): Entry(
        "/leads/{closed_lead}/outcome", "negotiator", 303, wrong=("operator", "closer"),
        data={"outcome": "won", "final_value": "1 200 000", "currency": "RUB"}),
    # for machines: JSON, no card
    ("POST", "/v1/calls/{call_id:path}/qualification"): Entry(
        "/v1/calls/{call_api}/qualification", "operator_token", 202,
        wrong=("reader", "reporter"), json={"category": "spam"}),
}

# Open to anybody: signing in, the invitation link (its secret is in the path), health,
# metrics, the static files and the API's documents.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/login"): "/login",
    ("POST", "/login"): "",  # tests/integration/test_desk.py
    ("GET", "/invite/{token}"): "",  # the invitation tests below
    ("POST", "/invite/{token}"): "",
    ("GET", "/health/live"): "/health/live",
    ("GET", "/health/ready"): "/health/ready",
    ("ANY", "/metrics"): "/metrics",
    ("ANY", "/static"): "/static/desk.css",
    ("GET", "/openapi.json"): "/openapi.json",
    ("GET", "/docs"): "/docs",
    ("GET", "/docs/oauth2-redirect"): "/docs/oauth2-redirect",
    ("GET", "/redoc"): "/redoc",
}

# The integrations' scopes (a person's follow from their role).
INTEGRATIONS = {"qualifier": ("calls:qualify",), "reader": ("clients:read",),
                "writer": ("clients:write",), "closer": ("deals:write",),
                "inbox": ("inbox:work", "clients:read"), "reporter": ("rules:read",)}


def declared_routes(routes: list) -> set[tuple[str, str]]:
    """(method, path) of every route, into the routers the app includes."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            found |= declared_routes(included.routes)
            continue
        methods = (getattr(route, "methods", None) or {"ANY"}) - {"HEAD"}
        found |= {(method, route.path) for method in methods}
    return found


def test_every_route_of_the_desk_has_an_entry():
    from services.desk.main import app

    declared = declared_routes(app.routes)
    assert declared - set(ROUTES) - set(PUBLIC) == set(), "a route without an entry"
    assert set(ROUTES) | set(PUBLIC) <= declared, "an entry without its route"


# ---------------------------------------------------------------------------- the stack


@dataclass
class Signed:
    """Someone's way of asking: a browser's session (cookie, the pages' CSRF token) or a
    bearer token."""

    http: httpx.AsyncClient
    csrf: str = ""
    token: str | None = None

    def headers(self, *, htmx: bool = False) -> dict[str, str]:
        headers = {"HX-Request": "true"} if htmx else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        return headers


@dataclass
class Desk:
    url: str
    infra: Endpoints
    emails: dict[str, str] = field(default_factory=dict)
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    things: dict[str, str] = field(default_factory=dict)  # what the paths name


async def employee(conn: asyncpg.Connection, department: str, role: str, *,
                   password: bool = True) -> tuple[str, uuid.UUID]:
    employee_id = uuid.uuid4()
    email = f"{department}.{role}.{employee_id.hex[:10]}@{DOMAIN}"
    await seed_employee(conn, employee_id=employee_id, email=email, department=department,
                        role=role, name=f"Access {employee_id.hex[:6]}")
    if password:
        await conn.execute("UPDATE employees SET password_hash = $2 WHERE employee_id = $1",
                           employee_id, hash_password(PASSWORD))
    return email, employee_id


async def ring(intake: str, caller: str) -> str:
    call_id, payload = generic_call(caller)
    async with httpx.AsyncClient(base_url=intake, timeout=10) as http:
        answer = await http.post("/v1/pbx/generic", content=payload,
                                 headers=signed("test-pbx", CONNECTORS["test-pbx"], payload))
    assert answer.status_code == 202, answer.text
    return call_id


@pytest.fixture(scope="module")
async def desk(infra: Endpoints, services: Services) -> AsyncIterator[Desk]:
    stack = Desk(services.running["desk"].url, infra)
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute("UPDATE employees SET active = false WHERE email LIKE $1",
                           f"%@{DOMAIN}")
        for who, department, role in (("operator", "client", "agent"),
                                      ("negotiator", "commercial", "agent"),
                                      ("head", "commercial", "head")):
            stack.emails[who], stack.ids[who] = await employee(conn, department, role)
        stack.tokens["operator_token"] = await api_token(conn, employee_id=stack.ids["operator"])
        for name, scopes in INTEGRATIONS.items():
            stack.tokens[name] = await api_token(conn, integration=f"{name}-{random_id()}",
                                                 scopes=scopes)
        # A known client (a CRM id, two numbers) whose call a person says is not theirs
        client_id, known_phone = uuid.uuid4(), random_phone()
        await conn.execute("INSERT INTO clients (client_id, external_id, name, segment) "
                           "VALUES ($1, $2, $3, 'small_business')", client_id,
                           f"crm-{client_id.hex[:10]}", f"Access client {client_id.hex[:6]}")
        await conn.execute("INSERT INTO client_phones (phone, client_id) VALUES ($1, $3), "
                           "($2, $3)", known_phone, random_phone(), client_id)
        # Two leads waiting in the head's inbox, one the negotiator works
        for name in ("kept_lead", "given_lead"):
            lead_id = uuid.uuid4()
            await conn.execute(
                """INSERT INTO leads (lead_id, call_id, department, status, value, currency,
                                      destination, stage, segment, size_class, caller,
                                      client_name, expected_value, due_at)
                   VALUES ($1, $2, 'commercial', 'open', 5000000, 'RUB',
                           'commercial_department', 'qualified', 'corporate', 'large', $3,
                           'Access LLC', 2500000, now() + interval '5 minutes')""",
                lead_id, f"test-pbx:{lead_id.hex[:12]}", random_phone())
            stack.things[name] = str(lead_id)
        lead_id = uuid.uuid4()
        await conn.execute(
            """INSERT INTO leads (lead_id, call_id, employee_id, department, strategy, status,
                                  value, currency, destination, stage, segment, size_class,
                                  caller, client_name, decided_at, published_at)
               VALUES ($1, $2, $3, 'commercial', 'head_assigned', 'open', 1000000, 'RUB',
                       'commercial_department', 'qualified', 'corporate', 'large', $4,
                       'Access LLC', now(), now())""",
            lead_id, f"test-pbx:{lead_id.hex[:12]}", stack.ids["negotiator"], random_phone())
        stack.things["closed_lead"] = str(lead_id)
    finally:
        await conn.close()
    stack.things["negotiator_id"] = str(stack.ids["negotiator"])
    intake = services.running["intake"].url
    calls = {"call_form": await ring(intake, random_phone()),
             "call_client": await ring(intake, random_phone()),
             "call_known": await ring(intake, known_phone),
             "call_api": await ring(intake, random_phone())}
    stack.things.update(calls)
    # until the desk has heard of every call (its card on the operator's screen)
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        answer = await http.post("/login", data={"email": stack.emails["operator"],
                                                 "password": PASSWORD}, headers=address())
        assert answer.status_code == 303, answer.text
        deadline = time.monotonic() + 30
        while True:
            screen = (await http.get("/operator")).text
            if all(f'id="{dom_id(c)}"' in screen for c in calls.values()):
                break
            assert time.monotonic() < deadline, "the desk did not hear of the calls"
            await asyncio.sleep(0.2)
    yield stack


@pytest.fixture
async def as_who(desk: Desk) -> AsyncIterator[Callable]:
    opened: list[httpx.AsyncClient] = []

    async def signed_in(who: str | None) -> Signed:
        http = httpx.AsyncClient(base_url=desk.url, timeout=15)
        opened.append(http)
        if who is None:
            return Signed(http)
        if who in desk.tokens:
            return Signed(http, token=desk.tokens[who])
        if who == "leaver":  # signs out (everywhere): someone of their own each time
            conn = await asyncpg.connect(desk.infra.database_url)
            try:
                email, _ = await employee(conn, "client", "agent")
            finally:
                await conn.close()
        else:
            email = desk.emails[who]
        answer = await http.post("/login", data={"email": email, "password": PASSWORD},
                                 headers=address())
        assert answer.status_code == 303, answer.text
        page = await http.get(answer.headers["location"])
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return Signed(http, csrf=found[1])

    yield signed_in
    for http in opened:
        await http.aclose()


async def ask(signed: Signed, method: str, entry: Entry, things: dict[str, str], *,
              htmx: bool = False) -> httpx.Response:
    path = entry.path.format(**things)
    data = {k: v.format(**things) for k, v in (entry.data or {}).items()} or None
    if data is not None and signed.csrf and not signed.token:
        data = {**data, "csrf_token": signed.csrf}
    request = signed.http.build_request(method, path, data=data, json=entry.json,
                                        headers=signed.headers(htmx=htmx))
    if entry.stream:  # an event stream: its answer's status (and a refusal's page), hang up
        answer = await signed.http.send(request, stream=True)
        if answer.status_code != 200:
            await answer.aread()
        await answer.aclose()
        return answer
    return await signed.http.send(request)


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_who_may_open_what(desk, as_who, route):
    method, _ = route
    entry = ROUTES[route]
    machine = entry.path.startswith("/v1/")
    # Nobody signed in: to /login, the page named (htmx: a redirect it follows); the API 401
    nobody = await as_who(None)
    anonymous = await ask(nobody, method, entry, desk.things)
    if machine:
        assert anonymous.status_code == 401, anonymous.text
    else:
        assert anonymous.status_code == 303, anonymous.text
        assert anonymous.headers["location"].startswith("/login?next=/")
        htmx = await ask(nobody, method, entry, desk.things, htmx=True)
        assert htmx.status_code == 200 and htmx.headers["HX-Redirect"].startswith("/login?next=")
    # The wrong role or scope: 403, and no card, lead or client in the answer
    for who in entry.wrong:
        refused = await ask(await as_who(who), method, entry, desk.things)
        assert refused.status_code == 403, (who, refused.text[:300])
        if machine:
            assert refused.json()["where"] == "scope"
        else:
            assert FORBIDDEN in refused.text, who
            assert "Access client" not in refused.text and "Access LLC" not in refused.text
    # The right one: done
    done = await ask(await as_who(entry.right), method, entry, desk.things)
    assert done.status_code == entry.status, done.text[:500]
    if done.status_code == 303:
        assert not done.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("route", sorted(r for r, path in PUBLIC.items() if path),
                         ids=lambda r: f"{r[0]} {r[1]}")
async def test_what_is_open_to_anybody(desk, route):
    async with httpx.AsyncClient(base_url=desk.url, timeout=10) as http:
        answer = await http.get(PUBLIC[route])
    assert answer.status_code == 200, answer.text[:300]


# ---------------------------------------------------------------------------- invitations


def invite(infra: Endpoints, desk_url: str, email: str) -> str:
    """`switchboard user invite EMAIL`, as the operator runs it; the link it printed."""
    result = CliRunner().invoke(cli, ["user", "invite", email], env={
        "SWITCHBOARD_DATABASE_URL": infra.database_url, "SWITCHBOARD_ACCESS_PUBLIC_URL": desk_url,
        "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    [link] = [line for line in result.stdout.splitlines()
              if line.startswith(f"{desk_url}/invite/")]
    return link


def new_employee(infra: Endpoints, *, password: bool = False) -> str:
    async def seed() -> str:
        conn = await asyncpg.connect(infra.database_url)
        try:
            return (await employee(conn, "client", "agent", password=password))[0]
        finally:
            await conn.close()

    return asyncio.run(seed())


def password_form(password: str = PASSWORD, again: str | None = None) -> dict[str, str]:
    return {"password": password, "password_again": password if again is None else again}


def test_the_invitation_link_sets_the_password_once_and_the_person_signs_in_with_it(
        infra, services):
    desk_url = services.running["desk"].url
    email = new_employee(infra)
    link = invite(infra, desk_url, email)
    with httpx.Client(timeout=15) as browser:
        # The page: the person's e-mail, the rules, the password twice
        page = browser.get(link)
        assert page.status_code == 200 and '<html lang="ru">' in page.text
        assert f'value="{email}" readonly' in page.text
        assert "Не короче 10 символов" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        # Errors beside the fields; a form from another site refused; nothing set
        short = browser.post(link, data=password_form("short"), headers=address())
        mismatch = browser.post(link, data=password_form(PASSWORD, PASSWORD + "!"),
                                headers=address())
        forged = browser.post(link, data=password_form(),
                              headers={**address(), "Origin": "https://evil.example"})
        assert short.status_code == mismatch.status_code == 422
        assert "Нужно хотя бы 10 символов" in short.text
        assert "Пароли не совпадают" in mismatch.text
        assert forged.status_code == 403
        [row] = query_rows(infra.database_url, "SELECT password_hash FROM employees WHERE email = $1", email)
        assert row["password_hash"] is None
        # Set: signed in at once, on the person's home page
        done = browser.post(link, data=password_form(),
                            headers={**address(), "Origin": desk_url})
        assert (done.status_code, done.headers["location"]) == (303, "/operator"), done.text
        screen = browser.get(f"{desk_url}/operator")
        assert screen.status_code == 200 and 'sse-connect="/operator/events"' in screen.text
        # The link works once
        again = browser.get(link)
        reused = browser.post(link, data=password_form("another password!"), headers=address())
        assert again.status_code == reused.status_code == 410
        assert "По этой ссылке пароль уже задан" in again.text and email not in again.text
    # The password signs in on /login
    with httpx.Client(base_url=desk_url, timeout=15) as fresh:
        signed_in = fresh.post("/login", data={"email": email, "password": PASSWORD},
                               headers=address())
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/operator")
    [line] = query_rows(infra.database_url, "SELECT detail FROM audit_log WHERE action = 'password.set' "
                          "AND subject = $1", email)
    assert json.loads(line["detail"])["by"] == "invitation"


def test_a_replaced_an_expired_and_an_unknown_link_are_refused(infra, services):
    desk_url = services.running["desk"].url
    email = new_employee(infra)
    replaced = invite(infra, desk_url, email)
    expired = invite(infra, desk_url, email)  # the newer link replaces the first
    query_rows(infra.database_url, "UPDATE invitations SET expires_at = now() - interval '1 second' "
                 "WHERE token_hash = $1", token_hash(expired.rsplit("/", 1)[1]))
    with httpx.Client(timeout=15) as browser:
        for link in (replaced, expired):
            page = browser.get(link)
            posted = browser.post(link, data=password_form(), headers=address())
            assert page.status_code == posted.status_code == 410, link
            assert "Срок действия ссылки истёк" in page.text
            assert email not in page.text and 'name="password"' not in page.text
        unknown = browser.get(f"{desk_url}/invite/sbv_{uuid.uuid4().hex}?lang=en")
        assert unknown.status_code == 404 and "There is no such link" in unknown.text
    [row] = query_rows(infra.database_url, "SELECT password_hash FROM employees WHERE email = $1", email)
    assert row["password_hash"] is None


def test_the_invitation_form_as_a_browser_sends_it_ends_the_sessions_of_before(infra, services):
    desk_url = services.running["desk"].url
    email = new_employee(infra, password=True)
    with httpx.Client(base_url=desk_url, timeout=15) as before:
        signed_in = before.post("/login", data={"email": email, "password": PASSWORD},
                                headers=address())
        assert signed_in.status_code == 303, signed_in.text
        assert before.get("/operator").status_code == 200
        link = invite(infra, desk_url, email)
        # The page asks for no Referer, so a browser hides its form's origin: Origin: null
        with httpx.Client(timeout=15) as browser:
            done = browser.post(link, data=password_form(PASSWORD + " new"),
                                headers={**address(), "Origin": "null"})
        assert (done.status_code, done.headers["location"]) == (303, "/operator"), done.text
        ended = before.get("/operator")
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    [line] = query_rows(infra.database_url, "SELECT detail FROM audit_log WHERE action = 'password.set' "
                          "AND subject = $1", email)
    assert json.loads(line["detail"]) == {"by": "invitation", "sessions_ended": 1}


# ---------------------------------------------------------------------------- sign-in


def test_a_sign_in_form_from_another_site_is_refused(infra, services):
    desk_url = services.running["desk"].url
    email = new_employee(infra, password=True)
    form = {"email": email, "password": PASSWORD}
    with httpx.Client(base_url=desk_url, timeout=15) as browser:
        forged = browser.post("/login", data=form,
                              headers={**address(), "Origin": "https://evil.example"})
        by_referer = browser.post("/login", data=form,
                                  headers={**address(), "Referer": "https://evil.example/x"})
        assert forged.status_code == by_referer.status_code == 403
        assert "Не получилось" in forged.text and 'name="password"' not in forged.text
        assert "sb_session" not in browser.cookies
        assert query_rows(infra.database_url, "SELECT 1 FROM audit_log WHERE subject = $1", email) == []
        own = browser.post("/login", data=form, headers={**address(), "Origin": desk_url})
        assert (own.status_code, own.headers["location"]) == (303, "/operator"), own.text
    [session] = query_rows(infra.database_url, "SELECT count(*) AS n FROM sessions s JOIN employees e "
                             "USING (employee_id) WHERE e.email = $1", email)
    assert session["n"] == 1
