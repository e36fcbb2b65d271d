"""The sales pages with the desk's ports in memory: the head's inbox (keep, assign, errors
beside the field, a negotiator refused), a person's own leads and the outcome form, the
dashboard's pictures; and what each live change does to the pages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from services.desk.live import AlertRaised, CallChanged, DealDone, InboxArrived, LeadDecided
from services.desk.lookup_api import ApiAnswer, OnBehalf
from services.desk.policy import dom_id, heard
from services.desk.sales import (Colleague, LeadStatus, MyLead, alert_of_call,
                                 lead_dom_id)
from services.desk.screens import InboxScreen, LeadsScreen
from shared.chances import Record
from shared.events import (DealClosed, Department, EmployeeRef, LeadAssigned, Role, Strategy,
                           utcnow)
from tests.component.wiring import WEB, DeskApp, desk_app
from tests.fakes.desk import FakeInboxApi, FakeLookupApi, FakeSales
from tests.unit.desk.samples import OWNER, enriched, head, negotiator, operator, routed

KIND = ("corporate", "large")


def inbox_item(lead_id: uuid.UUID, *, minutes_left: float = 9.5, value: str = "5000000",
               name: str = "Romashka LLC") -> dict:
    now = utcnow()
    return {"lead_id": str(lead_id), "call_id": f"office-1:{lead_id.hex[:6]}",
            "client": {"client_id": str(uuid.uuid4()), "name": name, "segment": "corporate"},
            "caller": "+79161234567", "segment": "corporate", "size_class": "large",
            "value": value, "currency": "RUB",
            "arrived_at": (now - timedelta(minutes=2, seconds=5)).isoformat(),
            "waiting_seconds": 125.0,
            "due_at": (now + timedelta(minutes=minutes_left)).isoformat(),
            "seconds_left": minutes_left * 60, "overdue": False}


def colleague(name: str, won: int, lost: int, **kw) -> Colleague:
    return Colleague(kw.pop("employee_id", uuid.uuid4()), name, kw.pop("role", Role.AGENT),
                     kw.pop("load", 2), kw.pop("capacity", 10), True, kw.pop("on_leave", False),
                     {KIND: Record(won, lost)})


@pytest.fixture
async def desk() -> AsyncIterator[DeskApp]:
    sales = FakeSales(colleagues_=[colleague("Anna Ivanova", 45, 5),
                                   colleague("Boris Petrov", 10, 40),
                                   colleague("Vera Away", 20, 2, on_leave=True),
                                   colleague("Olga Head", 50, 50, role=Role.HEAD)])
    inbox, lookup = FakeInboxApi(), FakeLookupApi()
    app, deps, access = desk_app(sales, inbox, lookup)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://desk.test") as http:
        yield DeskApp(http, deps, access, sales, inbox, lookup)


# ---------------------------------------------------------------------------- the inbox


async def test_the_head_sees_each_lead_with_its_countdown_and_the_negotiators_chances(desk):
    lead_id = uuid.uuid4()
    desk.inbox.leads.append(inbox_item(lead_id))
    desk.sales.shopping.append(enriched("office-1:sh", shopping=True, started=utcnow()))
    boss = desk.person(head())
    page = await boss.get("/inbox")
    html = page.text
    element = lead_dom_id(lead_id)
    assert page.status_code == 200 and 'sse-connect="/inbox/events"' in html
    assert f'<article id="{element}" class="lead"' in html
    assert "5\u00a0000\u00a0000\u00a0RUB · Romashka LLC" in html
    assert 'data-due="' in html and 'class="countdown"' in html and "/static/countdown.js" in html
    assert ">2:05<" in html or ">2:06<" in html  # the waiting time as drawn
    assert f'<label for="{element}-employee_id">Кому передать</label>' in html
    # the likeliest first; the head is no candidate; who is on leave cannot be chosen
    anna, boris = html.index("Anna Ivanova — шанс 84"), html.index("Boris Petrov — шанс")
    assert anna < boris and "Olga Head —" not in html
    assert "закрыто: 50" in html and "сделок 2 из 10" in html
    assert "disabled>Vera Away — шанс" in html and "в отпуске" in html
    assert ">Оставить себе</button>" in html
    assert "Romashka LLC" in html.split('id="alerts"')[1]  # the department's alerts
    [(_, _, person, _)] = desk.inbox.calls
    assert person == OnBehalf(boss.cookie, boss.csrf)  # the assignment sees the head


async def test_the_inbox_says_when_the_assignment_gives_none(desk):
    desk.inbox.answers["inbox"] = ApiAnswer(503, "the assignment did not answer (ConnectError)")
    page = await desk.person(head()).get("/inbox")
    assert page.status_code == 200
    assert "Не удалось прочитать входящие (503)" in page.text


@pytest.mark.parametrize("path", ["/inbox", "/dashboard"])
async def test_a_negotiator_is_refused_the_heads_pages_in_their_own_language(desk, path):
    english = await desk.person(negotiator_in("en")).get(path)
    russian = await desk.person(negotiator()).get(path)
    operator_page = await desk.person(operator()).get(path)
    assert english.status_code == russian.status_code == operator_page.status_code == 403
    assert '<html lang="en">' in english.text and "You have no access" in english.text
    assert '<html lang="ru">' in russian.text and "нет доступа" in russian.text
    assert not desk.inbox.calls


def negotiator_in(locale: str):
    return replace(negotiator(), locale=locale)


async def test_keep_goes_to_the_assignment_with_the_heads_session_and_csrf(desk):
    lead_id = uuid.uuid4()
    desk.inbox.leads.append(inbox_item(lead_id))
    boss = desk.person(head())
    refused = await boss.post(f"/inbox/leads/{lead_id}/keep", csrf=False)
    assert refused.status_code == 403 and not desk.inbox.calls
    kept = await boss.post(f"/inbox/leads/{lead_id}/keep")
    assert kept.status_code == 200 and "Сделка остаётся у вас" in kept.text
    [(action, lead, person, _)] = desk.inbox.calls
    assert (action, lead, person) == ("keep", lead_id, OnBehalf(boss.cookie, boss.csrf))
    plain = await boss.post(f"/inbox/leads/{lead_id}/keep", htmx=False,
                            data={"csrf_token": boss.csrf})
    assert (plain.status_code, plain.headers["location"]) == (303, "/inbox")


async def test_assign_needs_a_negotiator_and_shows_the_refusal_beside_the_select(desk):
    lead_id = uuid.uuid4()
    desk.inbox.leads.append(inbox_item(lead_id))
    boss, element = desk.person(head()), lead_dom_id(lead_id)
    nobody = await boss.post(f"/inbox/leads/{lead_id}/assign", {"employee_id": ""})
    assert nobody.status_code == 422
    assert f'id="{element}-employee_id-error">Выберите переговорщика' in nobody.text
    assert f'aria-describedby="{element}-employee_id-error"' in nobody.text
    assert nobody.text.startswith(f'<article id="{element}"')  # the article again
    chosen = uuid.uuid4()
    desk.inbox.answers["assign"] = ApiAnswer(409, "Boris Petrov is on leave", "employee_id")
    busy = await boss.post(f"/inbox/leads/{lead_id}/assign", {"employee_id": str(chosen)})
    assert busy.status_code == 409
    assert (f'id="{element}-employee_id-error">Распределение отказало (409): Boris Petrov is '
            "on leave") in busy.text
    del desk.inbox.answers["assign"]
    given = await boss.post(f"/inbox/leads/{lead_id}/assign", {"employee_id": str(chosen)})
    assert given.status_code == 200 and "Сделка передана: Anna" in given.text
    assert desk.inbox.calls[-1][3] == chosen


async def test_a_lead_decided_meanwhile_leaves_the_page_with_the_reason(desk):
    lead_id = uuid.uuid4()  # not in the inbox any more
    desk.inbox.answers["keep"] = ApiAnswer(409, "the lead is not in the inbox", "lead_id")
    answer = await desk.person(head()).post(f"/inbox/leads/{lead_id}/keep")
    assert answer.status_code == 409 and answer.headers["HX-Reswap"] == "none"
    assert f'<div id="{lead_dom_id(lead_id)}" hx-swap-oob="delete"></div>' in answer.text
    assert "the lead is not in the inbox" in answer.text


# ---------------------------------------------------------------------------- my leads


def my_lead(employee_id: uuid.UUID, status: LeadStatus = LeadStatus.OPEN, **kw) -> MyLead:
    return MyLead(lead_id=kw.pop("lead_id", uuid.uuid4()), call_id="office-1:x",
                  employee_id=employee_id, client_id=uuid.uuid4(),
                  client_name=kw.pop("client_name", "Romashka LLC"), caller="+79161234567",
                  segment="corporate", size_class="large", value=Decimal("5000000"),
                  currency="RUB", status=status, created_at=utcnow() - timedelta(days=2),
                  strategy="head_assigned", **kw)


async def test_a_negotiator_sees_their_leads_by_status_with_the_outcome_form_on_open_ones(desk):
    me = negotiator()
    open_lead = my_lead(me.employee_id)
    won = my_lead(me.employee_id, LeadStatus.WON, client_name="Vasilek",
                  final_value=Decimal("4800000"), final_currency="RUB",
                  closed_at=utcnow() - timedelta(days=1))
    theirs = my_lead(uuid.uuid4(), client_name="Someone else's")
    desk.sales.leads.update({x.lead_id: x for x in (open_lead, won, theirs)})
    page = await desk.person(me).get("/leads")
    html = page.text
    assert page.status_code == 200 and 'sse-connect="/leads/events"' in html
    opened, closed = html.split('id="leads-open"')[1], html.split('id="leads-won"')[1]
    assert open_lead.dom_id in opened.split('id="leads-won"')[0]
    assert won.dom_id in closed and "4\u00a0800\u00a0000\u00a0RUB" in closed
    assert "Someone else's" not in html
    form = f'action="/leads/{open_lead.lead_id}/outcome"'
    assert form in html and f'action="/leads/{won.lead_id}/outcome"' not in html
    assert f'<label for="{open_lead.dom_id}-o-final_value">Итоговая сумма</label>' in html
    assert "История клиента: 0 контактов" in html and "передал руководитель" in html
    assert "На вашу линию сейчас никто не звонит" in html
    home = await desk.person(me).get("/")
    assert home.headers["location"] == "/leads"


async def test_the_outcome_form_shows_its_errors_beside_the_fields(desk):
    me = negotiator()
    lead = my_lead(me.employee_id)
    desk.sales.leads[lead.lead_id] = lead
    browser = desk.person(me)
    answer = await browser.post(f"/leads/{lead.lead_id}/outcome",
                                {"outcome": "won", "final_value": "-3", "currency": "RUB"})
    assert answer.status_code == 422 and answer.text.startswith(f'<form id="{lead.dom_id}-o"')
    assert f'id="{lead.dom_id}-o-final_value-error">Не меньше 0' in answer.text
    assert 'value="-3"' in answer.text
    missing = await browser.post(f"/leads/{lead.lead_id}/outcome", {"outcome": "won"})
    assert "Введите сумму выигранной сделки" in missing.text
    assert not desk.lookup.outcomes


async def test_an_outcome_goes_to_the_lookup_and_the_lead_moves_to_its_list(desk):
    me = negotiator()
    lead = my_lead(me.employee_id)
    desk.sales.leads[lead.lead_id] = lead
    browser = desk.person(me)
    answer = await browser.post(f"/leads/{lead.lead_id}/outcome", {
        "outcome": "won", "final_value": "4 800 000", "currency": "rub"})
    assert answer.status_code == 200, answer.text
    [(lead_id, body, person)] = desk.lookup.outcomes
    assert (lead_id, body) == (lead.lead_id, {"outcome": "won", "value": "4800000",
                                              "currency": "RUB"})
    assert person == OnBehalf(browser.cookie, browser.csrf)
    assert answer.text.startswith(f'<div id="{lead.dom_id}" hx-swap-oob="delete"></div>'
                                  '<div hx-swap-oob="afterbegin:#leads-won">')
    assert "Итог записан: выиграна" in answer.text
    # drawn again before the assignment closed the lead: it is won already
    again = await browser.get("/leads")
    assert lead.dom_id in again.text.split('id="leads-won"')[1]
    assert f'action="/leads/{lead.lead_id}/outcome"' not in again.text


async def test_the_lookups_refusal_stands_beside_the_outcome(desk):
    me = negotiator()
    lead = my_lead(me.employee_id)
    desk.sales.leads[lead.lead_id] = lead
    desk.lookup.answer = ApiAnswer(409, "the lead was reported lost already", "outcome")
    answer = await desk.person(me).post(f"/leads/{lead.lead_id}/outcome", {
        "outcome": "won", "final_value": "1", "currency": "RUB"})
    assert answer.status_code == 409
    assert (f'id="{lead.dom_id}-o-outcome-error">Клиентская база отказала (409): the lead was '
            "reported lost already") in answer.text


async def test_nobody_records_the_outcome_of_another_persons_lead(desk):
    lead = my_lead(uuid.uuid4())
    desk.sales.leads[lead.lead_id] = lead
    other = await desk.person(negotiator()).post(f"/leads/{lead.lead_id}/outcome",
                                                 {"outcome": "lost"})
    clerk = await desk.person(operator()).post(f"/leads/{lead.lead_id}/outcome",
                                               {"outcome": "lost"})
    unknown = await desk.person(negotiator()).post(f"/leads/{uuid.uuid4()}/outcome",
                                                   {"outcome": "lost"})
    boss = await desk.person(head()).post(f"/leads/{lead.lead_id}/outcome", {"outcome": "lost"})
    assert other.status_code == clerk.status_code == 403
    assert unknown.status_code == 404
    assert boss.status_code == 200 and len(desk.lookup.outcomes) == 1


# ---------------------------------------------------------------------------- the dashboard


async def test_the_dashboard_draws_its_pictures_with_words_and_tables(desk):
    now = utcnow().astimezone(WEB.zone).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    desk.sales.hours = [(now, "owner", 4), (now, "client_department", 2)]
    desk.sales.days = [(now.date(), 3)]
    desk.sales.strategies = [("head_kept", 1), ("head_assigned", 2), ("strongest_available", 1)]
    desk.sales.delays = [30, 400, 700]
    page = await desk.person(head()).get("/dashboard")
    html = page.text
    assert page.status_code == 200
    assert html.count('<svg class="chart') == 5
    assert html.count("<title id=") == 5 and html.count("<desc id=") == 5
    assert html.count('<details class="as-table">') == 5 and html.count("<table>") == 5
    assert "За 24 часа 6 звонков; больше всего в час с" in html
    assert "руководитель оставил себе 1 (25\u00a0%)" in html
    assert "половина получила переговорщика за 6:40" in html
    assert "Anna Ivanova" in html and "отдел " in html  # the whiskers and the department
    assert 'class="s-owner"' in html and 'class="s-head_kept"' in html


# ---------------------------------------------------------------------------- live changes


def assigned(lead_id: uuid.UUID, employee_id: uuid.UUID, strategy=Strategy.STRONGEST_AVAILABLE
             ) -> LeadAssigned:
    return LeadAssigned(event_id=uuid.uuid4(), occurred_at=utcnow(), call_id="office-1:x",
                        lead_id=lead_id, client_id=None, employee_id=employee_id,
                        employee_name="Anna Ivanova", department=Department.COMMERCIAL,
                        strategy=strategy)


async def test_the_inbox_stream_adds_arrivals_and_drops_what_the_deadline_hands_out(desk):
    first, second = uuid.uuid4(), uuid.uuid4()
    desk.inbox.leads.append(inbox_item(first, name="First LLC"))
    boss = head()
    screen = InboxScreen(desk.deps, WEB, OnBehalf("c", "t"))
    shown: set[str] = set()
    snapshot = await screen.snapshot(boss, "tok", shown)
    assert snapshot.startswith('<div id="inbox-rows" hx-swap-oob="innerHTML">')
    assert shown == {lead_dom_id(first)}
    desk.inbox.leads.append(inbox_item(second, name="Second LLC"))
    arrived = await screen.update(boss, "tok", InboxArrived("office-1:b", second), shown)
    assert arrived.startswith('<div hx-swap-oob="beforeend:#inbox-rows">'
                              f'<article id="{lead_dom_id(second)}" class="arriving lead"')
    assert 'value="tok"' in arrived and "Новая сделка: 5\u00a0000\u00a0000\u00a0RUB · Second" \
        in arrived
    assert await screen.update(boss, "tok", InboxArrived("office-1:b", second), shown) is None
    gone = await screen.update(boss, "tok", LeadDecided(assigned(first, uuid.uuid4())), shown)
    assert gone.startswith(f'<div id="{lead_dom_id(first)}" hx-swap-oob="delete"></div>')
    assert "срок вышел, сделку получил(а) Anna Ivanova" in gone and "First LLC" in gone
    assert lead_dom_id(first) not in shown
    assert await screen.update(boss, "t", LeadDecided(assigned(uuid.uuid4(), uuid.uuid4())),
                               shown) is None
    alert = alert_of_call(enriched("office-1:sh", shopping=True, started=utcnow()))
    raised = await screen.update(boss, "t", AlertRaised(alert), shown)
    assert raised.startswith('<div hx-swap-oob="afterbegin:#alerts"><article id="alert-')


async def test_the_leads_stream_brings_new_leads_outcomes_calls_and_alerts(desk):
    me = negotiator()
    screen, shown = LeadsScreen(desk.deps, WEB), set()
    await screen.snapshot(me, "tok", shown)
    lead = my_lead(me.employee_id)
    desk.sales.leads[lead.lead_id] = lead
    new = await screen.update(me, "tok", LeadDecided(assigned(lead.lead_id, me.employee_id)),
                              shown)
    assert new.startswith('<div hx-swap-oob="afterbegin:#leads-open"><article id="'
                          f'{lead.dom_id}" class="arriving lead mine status-open"')
    assert await screen.update(me, "tok", LeadDecided(assigned(uuid.uuid4(), uuid.uuid4())),
                               shown) is None  # someone else's
    closed = DealClosed(event_id=uuid.uuid4(), occurred_at=utcnow(), call_id="office-1:x",
                        lead_id=lead.lead_id, outcome="lost")
    moved = await screen.update(me, "tok", DealDone(closed), shown)
    assert moved.startswith(f'<div id="{lead.dom_id}" hx-swap-oob="delete"></div>'
                            '<div hx-swap-oob="afterbegin:#leads-lost">')
    me_as_owner = negotiator()
    line = EmployeeRef(employee_id=me_as_owner.employee_id, name="Nik",
                       department=Department.COMMERCIAL)
    call_id = f"office-1:{uuid.uuid4().hex[:6]}"
    ringing = heard(heard(None, enriched(call_id, started=utcnow())),
                    routed(call_id, employee=line))
    card = await screen.update(me_as_owner, "tok", CallChanged(ringing), set())
    assert card.startswith('<div hx-swap-oob="afterbegin:#cards">')
    assert f'id="{dom_id(call_id)}"' in card and "qualification" in card
    assert await screen.update(me, "tok", CallChanged(ringing), set()) is None  # not my line
    mine = alert_of_call(enriched("office-1:sh", shopping=True, started=utcnow()))
    owner = replace(negotiator(), employee_id=OWNER.employee_id)
    assert (await screen.update(owner, "t", AlertRaised(mine), set())).startswith(
        '<div hx-swap-oob="afterbegin:#alerts">')
    assert await screen.update(me, "t", AlertRaised(mine), set()) is None
