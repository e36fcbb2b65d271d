"""The sales screens on the real stack: a qualified large commercial call reaching the head of
sales' inbox live (PBX event -> intake -> lookup -> router -> the operator's verdict on the
desk -> calls.qualified -> router -> the assignment's inbox -> the head's page), the head
keeping one lead and passing another through the desk (the assignment's leads.assigned says
so), the deadline handing a lead out and the page dropping it, a negotiator refused the
head's pages, recording an outcome (one DealClosed on deals.closed), shopping-around alerts
reaching the head and the owner, the dashboard's pictures; and the same in Chromium, with
screenshots (`SWITCHBOARD_DESK_SCREENS=docs/screens` writes them there).

This module runs its own assignment replica (the head keeps nothing at once: every
commercial lead waits in the inbox, for DEADLINE seconds) and its own desk next to it; the
session's assignment replica is stopped meanwhile, so every commercial lead of these tests is
handled under those settings, and started again after (as tests/integration/test_assignment.py
does). The session's intake, lookup and router make the calls."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.assignment.policy import lead_id_for
from services.desk.policy import dom_id
from services.desk.sales import lead_dom_id
from shared import topics
from shared.access.credentials import hash_password
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, REPO, Endpoints
from tests.desk_streams import EventStream, read_events
from tests.support import (TopicWatch, body, desk_and_assignment_of_our_own, generic_call,
                           random_phone, seed_employee, signed)

pytestmark = pytest.mark.integration

DOMAIN = "desk-head-it.example"
PASSWORD = "correct horse battery staple"
DEADLINE = 20.0  # seconds the head has to act on an inbox lead here
KIND = ("large_corporate", "large")  # what a corporate caller with a large company becomes
ASSIGNED, CLOSED = topics.LEADS_ASSIGNED.name, topics.DEALS_CLOSED.name
CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Person:
    email: str
    employee_id: uuid.UUID
    name: str


@dataclass
class Stack:
    desk: str
    intake: str
    infra: Endpoints
    head: Person
    negotiator: Person
    operator: Person


async def _person(conn: asyncpg.Connection, *, department: str, role: str, name: str,
                  capacity: int = 10, locale: str = "ru") -> Person:
    employee_id = uuid.uuid4()
    email = f"{department}.{role}.{employee_id.hex[:10]}@{DOMAIN}"
    await seed_employee(conn, employee_id=employee_id, email=email, department=department,
                        role=role, name=name, capacity=capacity)
    await conn.execute("UPDATE employees SET password_hash = $2, locale = $3 "
                       "WHERE employee_id = $1", employee_id, hash_password(PASSWORD), locale)
    return Person(email, employee_id, name)


@pytest.fixture(scope="module")
async def stack(infra: Endpoints, services: Services, tmp_path_factory) -> AsyncIterator[Stack]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute("UPDATE employees SET active = false WHERE email LIKE $1",
                           f"%@{DOMAIN}")
        suffix = uuid.uuid4().hex[:4]
        head = await _person(conn, department="commercial", role="head",
                             name=f"Olga Sokolova {suffix}", capacity=50)
        negotiator = await _person(conn, department="commercial", role="agent",
                                   name=f"Nikolai Petrov {suffix}", capacity=50)
        operator = await _person(conn, department="client", role="agent",
                                 name=f"Irina Volkova {suffix}")
        # A record that makes the negotiator the strongest on these leads
        await conn.execute("INSERT INTO negotiator_records (employee_id, segment, size_class, "
                           "won, lost) VALUES ($1, $2, $3, 30, 10)", negotiator.employee_id,
                           *KIND)
    finally:
        await conn.close()
    async with desk_and_assignment_of_our_own(
            services, infra, tmp_path_factory.mktemp("desk-head"), DOMAIN,
            deadline_seconds=DEADLINE, poll_seconds=0.2) as mine:
        yield Stack(mine.running["desk"].url, services.running["intake"].url, infra, head,
                    negotiator, operator)


def address() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}."
                               f"{random.randrange(1, 255)}"}


@dataclass
class Browser:
    """One signed-in person's browser: the session cookie, and the page's CSRF token."""

    http: httpx.AsyncClient
    csrf: str = ""

    async def page(self, path: str) -> httpx.Response:
        answer = await self.http.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', answer.text)
        if found:
            self.csrf = found[1]
        return answer

    async def post(self, path: str, data: dict[str, str] | None = None, *,
                   csrf: bool = True) -> httpx.Response:
        headers = {"HX-Request": "true"}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return await self.http.post(path, data=data or {}, headers=headers)


@pytest.fixture
async def browser_of(stack: Stack) -> AsyncIterator:
    opened: list[httpx.AsyncClient] = []

    async def sign_in(person: Person, home: str) -> Browser:
        http = httpx.AsyncClient(base_url=stack.desk, timeout=15)
        opened.append(http)
        answer = await http.post("/login", data={"email": person.email, "password": PASSWORD},
                                 headers=address())
        assert answer.status_code == 303, answer.text
        browser = Browser(http)
        await browser.page(home)
        return browser

    yield sign_in
    for http in opened:
        await http.aclose()


@pytest.fixture
async def open_stream() -> AsyncIterator:
    streams: list[EventStream] = []

    async def start(browser: Browser, path: str, drawn: str) -> EventStream:
        stream = EventStream()
        stream.task = asyncio.create_task(read_events(browser.http, path, stream))
        streams.append(stream)
        await stream.wait_for(lambda e: e[0] == "update" and drawn in e[1])  # the snapshot
        return stream

    yield start
    for stream in streams:
        stream.task.cancel()
        try:
            await stream.task
        except (asyncio.CancelledError, Exception):
            pass


def arrives(lead_id: uuid.UUID):
    return lambda e: (e[0] == "update" and "beforeend:#inbox-rows" in e[1]
                      and f'id="{lead_dom_id(lead_id)}"' in e[1])


def leaves(lead_id: uuid.UUID):
    return lambda e: (e[0] == "update"
                      and f'<div id="{lead_dom_id(lead_id)}" hx-swap-oob="delete">' in e[1])


async def ring(stack: Stack, caller: str | None = None) -> str:
    """A PBX event for a call to a general line; the call's id."""
    call_id, payload = generic_call(caller or random_phone())
    async with httpx.AsyncClient(base_url=stack.intake, timeout=10) as http:
        answer = await http.post("/v1/pbx/generic", content=payload,
                                 headers=signed("test-pbx", CONNECTORS["test-pbx"], payload))
    assert answer.status_code == 202, answer.text
    return call_id


async def commercial_lead(stack: Stack, operator: Browser, value: str = "5 000 000"
                          ) -> uuid.UUID:
    """A call the operator qualifies as a large deal of a corporate client with a large
    company: the router sends it to the commercial department, where its lead waits in the
    head's inbox. The lead's id."""
    call_id = await ring(stack)
    form = {"category": "commercial", "deal_value": value, "currency": "RUB",
            "company_size": "large", "corporate": "on", "product": "office for 40 people"}
    deadline = time.monotonic() + 20
    while True:  # until the desk has heard of the call
        answer = await operator.post(f"/operator/calls/{call_id}/qualification", form)
        if answer.status_code != 404 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert answer.status_code == 200, answer.text
    return lead_id_for(call_id)


async def lead_row(stack: Stack, lead_id: uuid.UUID) -> asyncpg.Record | None:
    conn = await asyncpg.connect(stack.infra.database_url)
    try:
        return await conn.fetchrow("SELECT * FROM leads WHERE lead_id = $1", lead_id)
    finally:
        await conn.close()


# ---------------------------------------------------------------------------- the inbox


async def test_a_qualified_large_call_reaches_the_heads_inbox_live(stack, browser_of,
                                                                   open_stream):
    head = await browser_of(stack.head, "/inbox")
    operator = await browser_of(stack.operator, "/operator")
    stream = await open_stream(head, "/inbox/events", 'id="inbox-rows"')
    lead_id = await commercial_lead(stack, operator)
    _, html, _ = await stream.wait_for(arrives(lead_id), timeout=20)
    assert "5\u00a0000\u00a0000\u00a0RUB" in html and "крупная сделка" in html
    assert 'class="countdown' in html and "data-due=" in html
    assert f"{stack.negotiator.name} — шанс" in html  # the strongest, with their chance
    assert f'name="csrf_token" value="{head.csrf}"' in html
    assert "Новая сделка" in html
    page = await head.page("/inbox")
    assert page.status_code == 200 and f'id="{lead_dom_id(lead_id)}"' in page.text
    waiting = await lead_row(stack, lead_id)
    assert waiting is not None and waiting["employee_id"] is None and waiting["due_at"]


async def test_the_head_keeps_one_lead_and_assigns_another_through_the_desk(stack, browser_of,
                                                                            open_stream):
    head = await browser_of(stack.head, "/inbox")
    operator = await browser_of(stack.operator, "/operator")
    other_tab = await open_stream(head, "/inbox/events", 'id="inbox-rows"')
    keep, give = (await commercial_lead(stack, operator, "7 000 000"),
                  await commercial_lead(stack, operator, "4 000 000"))
    await other_tab.wait_for(arrives(keep), timeout=20)
    await other_tab.wait_for(arrives(give), timeout=20)
    await head.page("/inbox")
    async with TopicWatch(stack.infra.bootstrap, ASSIGNED) as watch:
        forged = await head.post(f"/inbox/leads/{keep}/keep", csrf=False)
        kept = await head.post(f"/inbox/leads/{keep}/keep")
        nobody = await head.post(f"/inbox/leads/{give}/assign", {"employee_id": ""})
        given = await head.post(f"/inbox/leads/{give}/assign",
                                {"employee_id": str(stack.negotiator.employee_id)})
        again = await head.post(f"/inbox/leads/{keep}/keep")
        records = await watch.wait_for(
            lambda r: body(r)["lead_id"] in (str(keep), str(give)), count=2)
    assert forged.status_code == 403
    assert kept.status_code == 200 and "Сделка остаётся у вас" in kept.text
    assert nobody.status_code == 422 and "Выберите переговорщика" in nobody.text
    assert given.status_code == 200 and f"Сделка передана: {stack.negotiator.name}" in given.text
    assert again.status_code == 409 and "hx-swap-oob=\"delete\"" in again.text
    events = {body(r)["lead_id"]: body(r) for r in records}
    assert (events[str(keep)]["strategy"], events[str(keep)]["employee_id"]) == (
        "head_kept", str(stack.head.employee_id))
    assert (events[str(give)]["strategy"], events[str(give)]["employee_id"]) == (
        "head_assigned", str(stack.negotiator.employee_id))
    # and the other tab drops both as they are decided
    _, news, _ = await other_tab.wait_for(leaves(keep))
    assert f"оставил(а) себе {stack.head.name}" in news
    await other_tab.wait_for(leaves(give))
    assert f'id="{lead_dom_id(keep)}"' not in (await head.page("/inbox")).text


async def test_the_deadline_hands_a_lead_out_and_the_page_drops_it(stack, browser_of,
                                                                  open_stream):
    head = await browser_of(stack.head, "/inbox")
    operator = await browser_of(stack.operator, "/operator")
    stream = await open_stream(head, "/inbox/events", 'id="inbox-rows"')
    lead_id = await commercial_lead(stack, operator, "3 500 000")
    await stream.wait_for(arrives(lead_id), timeout=20)
    async with TopicWatch(stack.infra.bootstrap, ASSIGNED) as watch:
        [record] = await watch.wait_for(lambda r: body(r)["lead_id"] == str(lead_id),
                                        timeout=DEADLINE + 20)
    _, html, _ = await stream.wait_for(leaves(lead_id), timeout=10)
    assert body(record)["strategy"] == "strongest_available"
    assert f"срок вышел, сделку получил(а) {body(record)['employee_name']}" in html


async def test_a_negotiator_is_refused_the_heads_pages(stack, browser_of):
    negotiator = await browser_of(stack.negotiator, "/leads")
    inbox = await negotiator.page("/inbox")
    events = await negotiator.http.get("/inbox/events")
    dashboard = await negotiator.page("/dashboard")
    keep = await negotiator.post(f"/inbox/leads/{uuid.uuid4()}/keep")
    home = await negotiator.http.get("/")
    assert inbox.status_code == events.status_code == dashboard.status_code == 403
    assert "У вас нет доступа к этому разделу" in inbox.text and '<html lang="ru">' in inbox.text
    assert keep.status_code == 403
    assert (home.status_code, home.headers["location"]) == (303, "/leads")


# ---------------------------------------------------------------------------- my leads


async def test_the_negotiator_records_an_outcome_once(stack, browser_of, open_stream):
    head = await browser_of(stack.head, "/inbox")
    operator = await browser_of(stack.operator, "/operator")
    negotiator = await browser_of(stack.negotiator, "/leads")
    heads_tab = await open_stream(head, "/inbox/events", 'id="inbox-rows"')
    mine = await open_stream(negotiator, "/leads/events", 'id="leads-open"')
    lead_id = await commercial_lead(stack, operator, "6 000 000")
    await heads_tab.wait_for(arrives(lead_id), timeout=20)
    await head.page("/inbox")
    given = await head.post(f"/inbox/leads/{lead_id}/assign",
                            {"employee_id": str(stack.negotiator.employee_id)})
    assert given.status_code == 200, given.text
    element = lead_dom_id(lead_id, "mine")
    await mine.wait_for(lambda e: "afterbegin:#leads-open" in e[1] and element in e[1])
    page = await negotiator.page("/leads")
    assert f'action="/leads/{lead_id}/outcome"' in page.text
    url = f"/leads/{lead_id}/outcome"
    async with TopicWatch(stack.infra.bootstrap, CLOSED) as watch:
        bad = await negotiator.post(url, {"outcome": "won", "final_value": "-1",
                                          "currency": "RUB"})
        won = await negotiator.post(url, {"outcome": "won", "final_value": "5 800 000",
                                          "currency": "rub"})
        again = await negotiator.post(url, {"outcome": "won", "final_value": "5800000",
                                            "currency": "RUB"})
        await watch.wait_for(lambda r: body(r)["lead_id"] == str(lead_id))
        await watch.settle(1.5)
    assert bad.status_code == 422 and "Не меньше 0" in bad.text
    assert won.status_code == 200 and "Итог записан: выиграна" in won.text, won.text
    assert "afterbegin:#leads-won" in won.text
    assert again.status_code == 200 and "Итог уже был записан" in again.text
    [record] = [r for r in watch.records if body(r)["lead_id"] == str(lead_id)]
    deal = body(record)
    assert (deal["outcome"], float(deal["final_value"]), deal["currency"]) == (
        "won", 5_800_000, "RUB")
    await mine.wait_for(lambda e: "afterbegin:#leads-won" in e[1] and element in e[1])
    deadline = time.monotonic() + 15
    while (await lead_row(stack, lead_id))["status"] != "won":  # the assignment counted it
        assert time.monotonic() < deadline, "the assignment did not close the lead"
        await asyncio.sleep(0.2)
    assert element in (await negotiator.page("/leads")).text.split('id="leads-won"')[1]


async def test_shopping_around_reaches_the_head_and_the_owner_whose_line_rings(
        stack, browser_of, open_stream):
    conn = await asyncpg.connect(stack.infra.database_url)
    try:
        client_id, phone = uuid.uuid4(), random_phone()
        name = f"Vasilek {client_id.hex[:6]}"
        await conn.execute("INSERT INTO clients (client_id, name, segment) VALUES ($1, $2, "
                           "'corporate')", client_id, name)
        await conn.execute("INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)",
                           phone, client_id)
        now = datetime.now(UTC)
        await conn.execute("INSERT INTO ownership (client_id, employee_id, since, "
                           "last_activity_at) VALUES ($1, $2, $3, $4)", client_id,
                           stack.negotiator.employee_id, now - timedelta(days=40),
                           now - timedelta(days=2))
    finally:
        await conn.close()
    head = await browser_of(stack.head, "/inbox")
    owner = await browser_of(stack.negotiator, "/leads")
    heads_tab = await open_stream(head, "/inbox/events", 'id="alerts"')
    owners_tab = await open_stream(owner, "/leads/events", 'id="alerts"')
    call_id = await ring(stack, phone)  # the owned client calls a general line
    _, alert, _ = await heads_tab.wait_for(lambda e: "afterbegin:#alerts" in e[1]
                                           and name in e[1])
    assert "звонил на общую линию" in alert
    await owners_tab.wait_for(lambda e: "afterbegin:#alerts" in e[1] and name in e[1])
    # the router sends the owned client's call back to its owner: a card at their line
    _, card, _ = await owners_tab.wait_for(lambda e: "afterbegin:#cards" in e[1]
                                           and f'id="{dom_id(call_id)}"' in e[1])
    assert name in card and "Итог звонка" in card  # the operator's qualification form


# ---------------------------------------------------------------------------- the dashboard


async def test_the_dashboard_draws_its_pictures_from_the_database(stack, browser_of):
    head = await browser_of(stack.head, "/dashboard")
    page = await head.page("/dashboard")
    html = page.text
    assert page.status_code == 200
    assert html.count('<svg class="chart') == 5  # the negotiators here have outcomes
    assert html.count('role="img"') == 5 and html.count("<desc id=") == 5
    assert html.count('<details class="as-table">') == 5
    assert "Звонки по часам" in html and stack.negotiator.name in html
    assert re.search(r"За 24 часа \d+ звон", html)


# ---------------------------------------------------------------------------- in Chromium


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed")
async def test_in_the_browser_a_lead_arrives_and_the_countdown_runs(stack, browser_of,
                                                                    tmp_path):
    from playwright.async_api import async_playwright

    shots = Path(os.environ.get("SWITCHBOARD_DESK_SCREENS") or tmp_path)
    if not shots.is_absolute():
        shots = REPO / shots
    shots.mkdir(parents=True, exist_ok=True)
    operator = await browser_of(stack.operator, "/operator")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            async def signed_in(person: Person, path: str):
                context = await chromium.new_context(viewport={"width": 1360, "height": 900},
                                                     locale="ru-RU")
                page = await context.new_page()
                await page.goto(f"{stack.desk}/login?next={path}")
                await page.get_by_label("Эл. почта").fill(person.email)
                await page.get_by_label("Пароль").fill(PASSWORD)
                await page.get_by_role("button", name="Войти").click()
                await page.wait_for_url(f"**{path}")
                return page

            inbox = await signed_in(stack.head, "/inbox")
            await inbox.wait_for_timeout(500)  # the event stream connects
            leads = [await commercial_lead(stack, operator, v)
                     for v in ("12 500 000", "4 200 000")]
            for lead_id in leads:  # live, without a reload
                await inbox.locator(f"#{lead_dom_id(lead_id)}").wait_for(timeout=20_000)
            article = inbox.locator(f"#{lead_dom_id(leads[0])}")
            countdown = article.locator("time.countdown")
            before = await countdown.inner_text()
            await inbox.wait_for_timeout(1_500)
            assert await countdown.inner_text() != before  # it runs
            assert await article.get_by_label("Кому передать").count() == 1
            await inbox.screenshot(path=str(shots / "head.png"), full_page=True)

            mine = await signed_in(stack.negotiator, "/leads")
            await mine.wait_for_timeout(800)
            await mine.screenshot(path=str(shots / "negotiator.png"), full_page=True)

            board = await signed_in(stack.head, "/dashboard")
            assert await board.locator("svg.chart").count() == 5
            await board.get_by_text("Показать числа таблицей").first.click()
            await board.screenshot(path=str(shots / "dashboard.png"), full_page=True)
        finally:
            await chromium.close()
    for name in ("head", "negotiator", "dashboard"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
