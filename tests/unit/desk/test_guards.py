"""Who may open which desk page and send which form, with the desk's ports in memory: a card
or a lead is shown only to a principal who may read the client base (the 422 and 409 answers
of the card's forms draw the card), and changes need their own scope on top; the sign-in
form, which no session protects, is refused when a browser sends it from another site."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.desk.lookup_api import ApiAnswer
from shared.access.http import SESSION_COOKIE
from shared.access.principals import Scope, integration
from shared.settings import AccessSettings
from tests.component.wiring import DeskApp, desk_app
from tests.fakes.desk import FakeAccessStore, FakeInboxApi, FakeLookupApi, FakeSales
from tests.unit.desk.samples import CLIENT, OWNER, enriched, head, negotiator, operator

FORBIDDEN = "У вас нет доступа к этому разделу"


@pytest.fixture
async def desk() -> AsyncIterator[DeskApp]:
    sales, inbox, lookup = FakeSales(), FakeInboxApi(), FakeLookupApi()
    app, deps, access = desk_app(sales, inbox, lookup)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://desk.test") as http:
        yield DeskApp(http, deps, access, sales, inbox, lookup)


def known_call(desk: DeskApp) -> str:
    """A call of a known client the desk has heard of: its card names the client, the owner,
    the open leads and the contacts."""
    call_id = f"office-1:{uuid.uuid4().hex[:6]}"
    desk.deps.live.hear(enriched(call_id))
    return call_id


def machine(*scopes: Scope):
    return integration(f"crm-{uuid.uuid4().hex[:6]}", frozenset(scopes))


@pytest.mark.parametrize("form, data", [
    ("client", {"name": "", "segment": "individual"}),  # 422 would draw the card
    ("not-this-client", {}),  # the number is not the client's own: 409 with the card
    ("qualification", {"category": "commercial", "deal_value": "-5"}),  # 422 with the card
])
async def test_a_principal_who_may_not_read_clients_never_gets_a_cards_form(desk, form, data):
    call_id = known_call(desk)
    for principal in (machine(Scope.CALLS_QUALIFY), machine(Scope.CLIENTS_WRITE),
                      machine(Scope.RULES_READ)):
        # without htmx a refused form comes back as the whole card on a page
        answer = await desk.person(principal).post(f"/operator/calls/{call_id}/{form}", data,
                                                   htmx=False)
        assert answer.status_code == 403, (principal.scopes, answer.text)
        assert CLIENT.name not in answer.text and OWNER.name not in answer.text
        assert "+7 916" not in answer.text


async def test_reading_clients_is_not_enough_to_change_them(desk):
    call_id = known_call(desk)
    reader = desk.person(machine(Scope.CLIENTS_READ))
    for form in ("client", "not-this-client"):
        answer = await reader.post(f"/operator/calls/{call_id}/{form}",
                                   {"name": "Ivan", "segment": "individual"})
        assert answer.status_code == 403 and CLIENT.name not in answer.text
    qualify = await reader.post(f"/operator/calls/{call_id}/qualification", {"category": "spam"})
    assert qualify.status_code == 403


async def test_an_operator_still_gets_the_card_back_with_the_errors(desk):
    unknown_caller = f"office-1:{uuid.uuid4().hex[:6]}"
    desk.deps.live.hear(enriched(unknown_caller, known=False))
    answer = await desk.person(operator()).post(f"/operator/calls/{unknown_caller}/client",
                                                {"name": "", "segment": "individual"},
                                                htmx=False)
    assert answer.status_code == 422 and "Обязательное поле" in answer.text
    assert "+7 916 123-45-67" in answer.text
    call_id = known_call(desk)
    removed = await desk.person(operator()).post(f"/operator/calls/{call_id}/not-this-client",
                                                 htmx=False)
    assert removed.status_code == 409 and CLIENT.name in removed.text


@pytest.mark.parametrize("path", ["/operator", "/leads", "/inbox", "/dashboard"])
async def test_an_integration_gets_no_page_whatever_its_scopes(desk, path):
    everything = desk.person(machine(*Scope))
    answer = await everything.get(path)
    assert answer.status_code == 403 and FORBIDDEN in answer.text


async def test_a_person_without_an_employee_record_has_no_leads_page(desk):
    nobody = desk.person(machine(Scope.CLIENTS_READ))
    assert (await nobody.get("/leads")).status_code == 403
    assert (await desk.person(negotiator()).get("/leads")).status_code == 200


async def test_the_outcome_form_needs_deals_write_and_clients_read(desk):
    lead_id = uuid.uuid4()
    for principal in (operator(), machine(Scope.DEALS_WRITE)):
        answer = await desk.person(principal).post(f"/leads/{lead_id}/outcome",
                                                   {"outcome": "won"})
        assert answer.status_code == 403, principal.name
    unknown = await desk.person(negotiator()).post(f"/leads/{lead_id}/outcome",
                                                   {"outcome": "won"})
    assert unknown.status_code == 404  # past the guard: the lead is not known


async def test_the_inbox_is_the_head_of_sales_and_reads_clients(desk):
    desk.inbox.answers["keep"] = ApiAnswer(200, body={"employee_name": "Head"})
    lead_id = uuid.uuid4()
    for principal in (operator(), negotiator(), machine(Scope.INBOX_WORK, Scope.CLIENTS_READ)):
        keep = await desk.person(principal).post(f"/inbox/leads/{lead_id}/keep")
        assert keep.status_code == 403, principal.name
    assert not [c for c in desk.inbox.calls if c[0] == "keep"]
    kept = await desk.person(head()).post(f"/inbox/leads/{lead_id}/keep")
    assert kept.status_code == 200


async def test_the_machines_qualification_api_needs_no_client_reading(desk):
    """`POST /v1/calls/{call_id}/qualification` answers JSON without the card: calls:qualify
    is enough (an integration names the operator)."""
    call_id = known_call(desk)
    qualifier = desk.person(machine(Scope.CALLS_QUALIFY))
    answer = await qualifier.http.post(
        f"/v1/calls/{call_id}/qualification", json={"category": "spam"},
        headers={"Cookie": f"sb_session={qualifier.cookie}", "X-CSRF-Token": qualifier.csrf})
    assert answer.status_code == 422 and answer.json()["where"] == "operator_id"
    assert CLIENT.name not in answer.text


# ---------------------------------------------------------------------------- sign-in

PASSWORD = "correct horse battery"


@pytest.fixture
async def sign_in_page() -> AsyncIterator[tuple[httpx.AsyncClient, FakeAccessStore]]:
    access = FakeAccessStore()
    access.add_person(operator(), PASSWORD)
    app, _, _ = desk_app(access=access,
                         settings=AccessSettings(public_url="https://desk.example"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://desk.test") as http:
        yield http, access


def sign_in_form(lang: str = "ru") -> dict[str, str]:
    return {"email": operator().name, "password": PASSWORD, "lang": lang}


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Referer": "https://evil.example/page"},  # no Origin: the Referer tells
    {"Origin": "https://evil.example", "Referer": "http://desk.test/login"},
    {"Origin": "null"},  # a sandboxed frame, a data: URL
], ids=["origin", "referer", "origin-over-referer", "null"])
async def test_a_sign_in_form_from_another_site_is_refused_and_nothing_is_tried(sign_in_page,
                                                                               headers):
    http, access = sign_in_page
    answer = await http.post("/login", data=sign_in_form(), headers=headers)
    assert answer.status_code == 403
    assert "Не получилось" in answer.text and "Форму входа отправили с другого сайта" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    # no session, no attempt counted against the person, no password checked
    assert access.sessions == {} and access.failures == [] and access.audited == []


async def test_the_refusal_is_in_the_forms_language(sign_in_page):
    http, _ = sign_in_page
    answer = await http.post("/login", data=sign_in_form("en"),
                             headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and '<html lang="en">' in answer.text
    assert "The sign-in form was sent from another site" in answer.text


@pytest.mark.parametrize("headers", [
    {"Origin": "http://desk.test"},  # this host
    {"Origin": "https://desk.example"},  # where people open it (SWITCHBOARD_ACCESS_PUBLIC_URL)
    {"Referer": "http://desk.test/login?next=/operator"},
    {},  # no browser: curl, a script
], ids=["host", "public-url", "referer", "script"])
async def test_a_sign_in_form_from_the_desk_or_a_script_signs_in(sign_in_page, headers):
    http, access = sign_in_page
    answer = await http.post("/login", data=sign_in_form(), headers=headers)
    assert (answer.status_code, answer.headers.get("location")) == (303, "/operator"), answer.text
    assert SESSION_COOKIE in answer.headers["set-cookie"]
    assert len(access.sessions) == 1
