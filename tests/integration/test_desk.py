"""The people's screens on the real stack: sign-in at /login, the operator's card arriving on
the page's event stream within a second of the PBX event, the qualification (the form and
the API) reaching calls.qualified once, CSRF on every change, Russian by default and English
by choice.

The desk under test is a process of this module's own (its session check runs every second),
beside the session's services; its cards come from the session's intake, lookup and router.
Each sign-in comes from its own address (`X-Forwarded-For`), so the rate limit of one test
never meets another."""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from services.desk.policy import dom_id
from shared import topics
from shared.access.credentials import hash_password
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, Endpoints
from tests.desk_streams import EventStream, read_events
from tests.support import (TopicWatch, about, api_token, body, generic_call, random_phone,
                           seed_employee, signed)

pytestmark = pytest.mark.integration

QUALIFIED = topics.CALLS_QUALIFIED.name
PASSWORD = "correct horse battery staple"
DOMAIN = "desk-it.example"
SECRET = CONNECTORS["test-pbx"]


@dataclass(frozen=True)
class Desk:
    url: str
    intake: str
    infra: Endpoints


@pytest.fixture(scope="module")
def desk(infra: Endpoints, services: Services, tmp_path_factory) -> Desk:
    replica = Services(tmp_path_factory.mktemp("desk"), infra.env(), usual_ports=False)
    replica.start("desk", extra_env={
        "SWITCHBOARD_DESK_LOOKUP_URL": services.running["lookup"].url,
        "SWITCHBOARD_DESK_SESSION_CHECK_SECONDS": "1",
    })
    try:
        replica.wait_ready(names=["desk"])
        yield Desk(replica.running["desk"].url, services.running["intake"].url, infra)
    finally:
        replica.stop_all()


def address() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}."
                               f"{random.randrange(1, 255)}"}


async def person(desk: Desk, *, department: str = "client", role: str = "agent",
                 locale: str = "ru") -> tuple[str, uuid.UUID]:
    """A new employee who can sign in; (e-mail, id)."""
    employee_id = uuid.uuid4()
    email = f"{department}.{role}.{employee_id.hex[:10]}@{DOMAIN}"
    conn = await asyncpg.connect(desk.infra.database_url)
    try:
        await seed_employee(conn, employee_id=employee_id, email=email, department=department,
                            role=role, name=f"Olga {employee_id.hex[:4]}")
        await conn.execute("UPDATE employees SET password_hash = $2, locale = $3 "
                           "WHERE employee_id = $1", employee_id, hash_password(PASSWORD), locale)
    finally:
        await conn.close()
    return email, employee_id


@dataclass
class Browser:
    """One signed-in person's browser: the session cookie, and the page's CSRF token."""

    http: httpx.AsyncClient
    csrf: str = ""

    async def page(self, path: str = "/operator") -> httpx.Response:
        answer = await self.http.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', answer.text)
        if found:
            self.csrf = found[1]
        return answer

    def htmx(self, csrf: bool = True) -> dict[str, str]:
        headers = {"HX-Request": "true"}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return headers


@pytest.fixture
async def browser_of(desk: Desk) -> AsyncIterator:
    opened: list[httpx.AsyncClient] = []

    async def sign_in(email: str) -> Browser:
        http = httpx.AsyncClient(base_url=desk.url, timeout=10)
        opened.append(http)
        answer = await http.post("/login", data={"email": email, "password": PASSWORD},
                                 headers=address())
        assert answer.status_code == 303, answer.text
        browser = Browser(http)
        await browser.page()
        return browser

    yield sign_in
    for http in opened:
        await http.aclose()


@pytest.fixture
async def open_stream() -> AsyncIterator:
    streams: list[EventStream] = []

    async def start(browser: Browser, path: str = "/operator/events") -> EventStream:
        stream = EventStream()
        stream.task = asyncio.create_task(read_events(browser.http, path, stream))
        streams.append(stream)
        await stream.wait_for(lambda e: e[0] == "update" and 'id="cards"' in e[1])  # snapshot
        return stream

    yield start
    for stream in streams:
        stream.task.cancel()
        try:
            await stream.task
        except (asyncio.CancelledError, Exception):
            pass


async def ring(desk: Desk, caller: str | None = None) -> tuple[str, float]:
    """A PBX event for a call to a general line; (call id, when it was sent)."""
    call_id, payload = generic_call(caller or random_phone())
    async with httpx.AsyncClient(base_url=desk.intake, timeout=10) as http:
        sent = time.monotonic()
        answer = await http.post("/v1/pbx/generic", content=payload,
                                 headers=signed("test-pbx", SECRET, payload))
    assert answer.status_code == 202, answer.text
    return call_id, sent


def card_arrives(call_id: str):
    return lambda e: e[0] == "update" and f'id="{dom_id(call_id)}"' in e[1] \
        and "afterbegin:#cards" in e[1]


# ---------------------------------------------------------------------------- sign-in


async def test_sign_in_page_is_russian_labelled_and_one_error_for_both_failures(desk):
    email, _ = await person(desk)
    async with httpx.AsyncClient(base_url=desk.url) as http:
        page = await http.get("/login")
        wrong = await http.post("/login", data={"email": email, "password": "not it"},
                                headers=address())
        unknown = await http.post("/login", data={"email": f"nobody@{DOMAIN}",
                                                  "password": "not it"}, headers=address())
        away = await http.get("/operator")
        english = await http.get("/login?lang=en")
    assert page.status_code == 200 and '<html lang="ru">' in page.text
    assert '<label for="login-email">Эл. почта</label>' in page.text
    assert '<label for="login-password">Пароль</label>' in page.text
    assert wrong.status_code == unknown.status_code == 401
    error = '<p class="error" id="login-password-error">Неверная эл. почта или пароль</p>'
    assert error in wrong.text and error in unknown.text
    assert (away.status_code, away.headers["location"]) == (303, "/login?next=/operator")
    assert '<html lang="en">' in english.text and ">Sign in</button>" in english.text


async def test_the_rate_limit_says_when_to_try_again(desk):
    email, _ = await person(desk)
    origin = address()
    async with httpx.AsyncClient(base_url=desk.url) as http:
        answers = [await http.post("/login", data={"email": email, "password": "not it"},
                                   headers=origin) for _ in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert "Слишком много неудачных попыток входа" in answers[-1].text
    assert answers[-1].headers["retry-after"]


async def test_signed_in_the_operator_gets_the_screen_a_negotiator_does_not(desk, browser_of):
    operator = await browser_of((await person(desk))[0])
    negotiator = await browser_of((await person(desk, department="commercial"))[0])
    home = await operator.http.get("/")
    screen = await operator.page()
    refused = await negotiator.http.get("/operator")
    assert (home.status_code, home.headers["location"]) == (303, "/operator")
    assert screen.status_code == 200 and 'sse-connect="/operator/events"' in screen.text
    assert "Сейчас никто не звонит" in screen.text
    assert refused.status_code == 403 and "нет доступа" in refused.text


# ---------------------------------------------------------------------------- the card


async def test_a_ringing_call_arrives_on_the_stream_within_a_second(desk, browser_of,
                                                                   open_stream):
    operator = await browser_of((await person(desk))[0])
    stream = await open_stream(operator)
    warm_up, _ = await ring(desk)  # the first call after the services started warms them up
    await stream.wait_for(card_arrives(warm_up))

    caller = random_phone()
    call_id, sent = await ring(desk, caller)
    _, html, came = await stream.wait_for(card_arrives(call_id))

    assert came - sent < 1.0, f"the card came {came - sent:.3f} s after the PBX event"
    assert "Новый номер" in html and "Создать клиента" in html
    assert caller[:2] in html and 'name="csrf_token" value="' + operator.csrf in html
    page = await operator.page()
    assert f'id="{dom_id(call_id)}"' in page.text  # and a page drawn now has it


async def test_a_known_clients_card_names_the_client_and_segment(desk, browser_of,
                                                                 open_stream):
    conn = await asyncpg.connect(desk.infra.database_url)
    try:
        client_id, phone = uuid.uuid4(), random_phone()
        await conn.execute("INSERT INTO clients (client_id, name, segment) VALUES ($1, $2, "
                           "'small_business')", client_id, f"Romashka {client_id.hex[:6]}")
        await conn.execute("INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)",
                           phone, client_id)
    finally:
        await conn.close()
    operator = await browser_of((await person(desk))[0])
    stream = await open_stream(operator)
    call_id, _ = await ring(desk, phone)
    _, html, _ = await stream.wait_for(card_arrives(call_id))
    assert f"Romashka {client_id.hex[:6]}" in html and "малый бизнес" in html
    assert "Клиент из базы" in html and "Не этот клиент" in html


async def test_a_card_in_two_tabs_at_once(desk, browser_of, open_stream):
    operator = await browser_of((await person(desk))[0])
    first, second = await open_stream(operator), await open_stream(operator)
    call_id, _ = await ring(desk)
    await first.wait_for(card_arrives(call_id))
    await second.wait_for(card_arrives(call_id))


async def test_signing_out_everywhere_ends_the_open_streams(desk, browser_of, open_stream):
    operator = await browser_of((await person(desk))[0])
    stream = await open_stream(operator)
    out = await operator.http.post("/logout/everywhere", data={"csrf_token": operator.csrf})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    _, html, _ = await stream.wait_for(lambda e: e[0] == "signed-out", timeout=5)
    assert "Сеанс завершён" in html


# ---------------------------------------------------------------------------- qualification


async def test_the_form_publishes_one_call_qualified_and_the_card_leaves(desk, browser_of,
                                                                        open_stream):
    operator = await browser_of((await person(desk))[0])
    stream = await open_stream(operator)
    call_id, _ = await ring(desk)
    await stream.wait_for(card_arrives(call_id))
    url = f"/operator/calls/{call_id}/qualification"
    async with TopicWatch(desk.infra.bootstrap, QUALIFIED) as watch:
        bad = await operator.http.post(url, headers=operator.htmx(), data={
            "category": "commercial", "deal_value": "-5", "currency": "rb"})
        good = await operator.http.post(url, headers=operator.htmx(), data={
            "category": "commercial", "deal_value": "1 500 000", "currency": "rub",
            "company_size": "medium", "corporate": "on", "product": "40 desks",
            "comment": "calls back Monday"})
        again = await operator.http.post(url, headers=operator.htmx(), data={
            "category": "commercial", "deal_value": "1500000", "currency": "RUB",
            "company_size": "medium", "corporate": "on", "product": "40 desks"})
        await watch.wait_for(about(call_id, QUALIFIED))
        await watch.settle(1.0)
    assert bad.status_code == 422
    assert "Не меньше 0" in bad.text and "Три заглавные латинские буквы" in bad.text
    assert 'aria-invalid="true"' in bad.text and 'value="-5"' in bad.text
    assert good.status_code == 200 and "сохранён" in good.text
    assert again.status_code == 200 and "уже квалифицирован" in again.text
    [record] = [r for r in watch.records if about(call_id, QUALIFIED)(r)]
    event = body(record)
    assert (event["category"], event["currency"], event["company_size"]) == \
        ("commercial", "RUB", "medium")
    assert float(event["deal_value"]) == 1_500_000 and event["corporate"] is True
    assert event["product"] == "40 desks" and event["caller"]
    await stream.wait_for(lambda e: f'id="{dom_id(call_id)}" hx-swap-oob="delete"' in e[1])
    conn = await asyncpg.connect(desk.infra.database_url)
    try:
        audit = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = "
                                    "'call.qualify' AND subject = $1", call_id)
    finally:
        await conn.close()
    assert audit == 1


async def test_the_api_qualifies_once_and_names_a_bad_field(desk, browser_of, open_stream):
    email, employee_id = await person(desk)
    operator = await browser_of(email)
    stream = await open_stream(operator)
    call_id, _ = await ring(desk)
    await stream.wait_for(card_arrives(call_id))
    conn = await asyncpg.connect(desk.infra.database_url)
    try:
        token = await api_token(conn, employee_id=employee_id)
        outsider = await api_token(conn, integration=f"report-{uuid.uuid4().hex[:8]}",
                                   scopes=("rules:read",))
    finally:
        await conn.close()
    url = f"/v1/calls/{call_id}/qualification"
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=desk.url) as http, \
            TopicWatch(desk.infra.bootstrap, QUALIFIED) as watch:
        anonymous = await http.post(url, json={"category": "spam"})
        not_allowed = await http.post(url, json={"category": "spam"},
                                      headers={"Authorization": f"Bearer {outsider}"})
        bad = await http.post(url, json={"category": "commercial", "currency": "rub"},
                              headers=bearer)
        unknown = await http.post("/v1/calls/test-pbx:nope/qualification",
                                  json={"category": "spam"}, headers=bearer)
        session_without_csrf = await operator.http.post(url, json={"category": "spam"})
        good = await http.post(url, json={"category": "operational", "product": "delivery"},
                               headers=bearer)
        again = await http.post(url, json={"category": "operational", "product": "delivery"},
                                headers=bearer)
        other = await http.post(url, json={"category": "spam"}, headers=bearer)
        await watch.wait_for(about(call_id, QUALIFIED))
        await watch.settle(1.0)
    assert anonymous.status_code == 401 and not_allowed.status_code == 403
    assert bad.status_code == 422 and bad.json()["where"] == "currency"
    assert unknown.status_code == 404 and unknown.json()["where"] == "call_id"
    assert session_without_csrf.status_code == 403
    assert (good.status_code, good.json()["status"]) == (202, "qualified")
    assert (again.status_code, again.json()["status"]) == (202, "already qualified")
    assert again.json()["event_id"] == good.json()["event_id"]
    assert other.status_code == 409
    [record] = [r for r in watch.records if about(call_id, QUALIFIED)(r)]
    assert body(record)["category"] == "operational"
    assert body(record)["operator_id"] == str(employee_id)


# ---------------------------------------------------------------------------- CSRF, languages


async def test_a_change_without_the_csrf_token_is_refused(desk, browser_of, open_stream):
    operator = await browser_of((await person(desk))[0])
    stream = await open_stream(operator)
    call_id, _ = await ring(desk)
    await stream.wait_for(card_arrives(call_id))
    async with TopicWatch(desk.infra.bootstrap, QUALIFIED) as watch:
        qualify = await operator.http.post(f"/operator/calls/{call_id}/qualification",
                                           headers=operator.htmx(csrf=False),
                                           data={"category": "spam"})
        forged = await operator.http.post(f"/operator/calls/{call_id}/qualification",
                                          data={"category": "spam", "csrf_token": "forged"})
        await watch.settle(1.0)
    locale = await operator.http.post("/locale", data={"locale": "en"})
    logout = await operator.http.post("/logout")
    assert qualify.status_code == forged.status_code == 403
    assert "Страница устарела" in forged.text
    assert locale.status_code == 403 and logout.status_code == 403
    assert not [r for r in watch.records if about(call_id, QUALIFIED)(r)]
    assert (await operator.page()).status_code == 200  # still signed in, still Russian
    assert '<html lang="ru">' in (await operator.page()).text


async def test_russian_by_default_english_by_choice_and_an_unknown_language_refused(
        desk, browser_of):
    operator = await browser_of((await person(desk))[0])
    russian = await operator.page()
    unknown = await operator.http.post("/locale", data={"locale": "fr",
                                                        "csrf_token": operator.csrf})
    chosen = await operator.http.post("/locale", data={"locale": "en",
                                                       "csrf_token": operator.csrf},
                                      headers={"Referer": f"{desk.url}/operator"})
    english = await operator.page()
    assert '<html lang="ru">' in russian.text and "Сейчас никто не звонит" in russian.text
    assert unknown.status_code == 422 and "Неизвестный язык" in unknown.text
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/operator")
    assert '<html lang="en">' in english.text and "Nobody is calling right now" in english.text
    assert ">Sign out everywhere</button>" in english.text


async def test_create_client_goes_to_the_lookup_with_the_persons_session(desk, browser_of,
                                                                         open_stream):
    operator = await browser_of((await person(desk))[0])
    stream = await open_stream(operator)
    call_id, _ = await ring(desk)
    await stream.wait_for(card_arrives(call_id))
    answer = await operator.http.post(f"/operator/calls/{call_id}/client",
                                      headers=operator.htmx(),
                                      data={"name": "", "segment": "individual"})
    assert answer.status_code == 422 and "Обязательное поле" in answer.text
    answer = await operator.http.post(f"/operator/calls/{call_id}/client",
                                      headers=operator.htmx(),
                                      data={"name": "Ivan Petrov", "segment": "individual"})
    # Whatever the lookup answers is shown: its refusal beside the form, or the client added.
    if answer.status_code >= 400:
        assert "Клиентская база отказала" in answer.text
    else:
        assert "добавлен в базу" in answer.text
