"""The client base for CRMs on the real stack: a CRM's upserts show up in the next caller
look-up and the next routing decision, the same request twice changes nothing, a bad field is
refused with the CSV import's words, an outcome posted over HTTP arrives on deals.closed once,
and every change is a line of the audit log.

Every test makes its own employees, clients and leads (random e-mails, external ids, numbers).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from shared import topics
from shared.access.principals import Scope
from shared.events import stable_id
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, Endpoints
from tests.support import (TopicWatch, about, api_token, body, generic_call, random_id,
                           random_phone, signed)

pytestmark = pytest.mark.integration

ROUTED, DEALS = topics.CALLS_ROUTED.name, topics.DEALS_CLOSED.name
DOMAIN = "crm-it.example"  # the e-mails of this module's employees


@dataclass
class Crm:
    """A CRM with a token of every write scope, and a reader with `clients:read`."""

    infra: Endpoints
    lookup: httpx.AsyncClient
    intake: str
    name: str
    headers: dict[str, str]
    reader: dict[str, str]

    async def fetch(self, query: str, *args) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.infra.database_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def put_employee(self, email: str, **fields) -> httpx.Response:
        employee = {"name": f"Agent {email[:6]}", "department": "commercial", "role": "agent",
                    **fields}
        return await self.lookup.put(f"/v1/employees/{email}", json=employee,
                                     headers=self.headers)

    async def put_client(self, external_id: str, **fields) -> httpx.Response:
        client = {"name": f"Client {external_id}", "segment": "corporate", **fields}
        return await self.lookup.put(f"/v1/clients/{external_id}", json=client,
                                     headers=self.headers)

    async def look_up(self, phone: str) -> httpx.Response:
        return await self.lookup.get(f"/v1/callers/{phone}", headers=self.reader)

    async def ring(self, caller: str) -> dict:
        """The ring-time decision of a call from `caller`, as published to calls.routed."""
        call_id, payload = generic_call(caller, pbx="office-1")
        async with TopicWatch(self.infra.bootstrap, ROUTED) as watch, \
                httpx.AsyncClient(base_url=self.intake) as http:
            answer = await http.post("/v1/pbx/generic", content=payload,
                                     headers=signed("office-1", CONNECTORS["office-1"], payload))
            assert answer.status_code == 202, answer.text
            routed = await watch.wait_for(about(call_id, ROUTED))
        return body(routed[0])

    async def audit(self, action: str, subject: str) -> list[asyncpg.Record]:
        return await self.fetch("SELECT * FROM audit_log WHERE action = $1 AND subject = $2 "
                                "ORDER BY audit_id", action, subject)


async def token(url: str, *scopes: Scope, name: str | None = None) -> str:
    """A token of a new integration with these scopes."""
    conn = await asyncpg.connect(url)
    try:
        return await api_token(conn, integration=name or f"crm-{random_id()}",
                               scopes=tuple(s.value for s in scopes))
    finally:
        await conn.close()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture(scope="module", autouse=True)
async def no_leftover_staff(infra: Endpoints) -> AsyncIterator[None]:
    """No employee of this module stays active: none competes for a later test's calls or
    leads."""
    yield
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute("UPDATE employees SET active = false WHERE email LIKE $1",
                           f"%@{DOMAIN}")
    finally:
        await conn.close()


@pytest.fixture
async def crm(infra: Endpoints, services: Services) -> AsyncIterator[Crm]:
    name = f"crm-{random_id()}"
    writer = await token(infra.database_url, Scope.CLIENTS_WRITE, Scope.EMPLOYEES_WRITE,
                         Scope.DEALS_WRITE, name=name)
    reader = await token(infra.database_url, Scope.CLIENTS_READ)
    async with httpx.AsyncClient(base_url=services.running["lookup"].url, timeout=30) as http:
        yield Crm(infra, http, services.running["intake"].url, name, bearer(writer),
                  bearer(reader))


def new_email(who: str = "agent") -> str:
    return f"{who}.{random_id()}@{DOMAIN}"


def random_extension() -> str:
    return str(random.randrange(100_000, 1_000_000))


async def test_an_upserted_client_is_the_next_look_up_and_rings_its_owner(crm: Crm):
    # Given an employee and a client with a number and that owner, both from the CRM
    owner, extension = new_email("owner"), random_extension()
    made = await crm.put_employee(owner.upper(), name="Anna Owner", extension=extension)
    assert made.status_code == 201, made.text
    assert made.json()["employee_id"] == str(stable_id("employee", owner))
    external_id, phone = f"crm-{random_id()}", random_phone()
    spaced = f"8 ({phone[2:5]}) {phone[5:8]}-{phone[8:10]}-{phone[10:]}"
    created = await crm.put_client(external_id, name="ООО Ромашка", segment="Корпоративный",
                                   phones=[{"number": spaced, "contact_name": "Иван"}],
                                   tax_id="7701234567", owner_email=owner)
    assert created.status_code == 201, created.text
    assert created.json()["result"] == "created"
    assert created.json()["client_id"] == str(stable_id("client", external_id))

    # Then the next look-up shows it with its owner, and its next call rings the owner
    found = await crm.look_up(phone)
    assert found.status_code == 200, found.text
    assert found.json()["client"]["name"] == "ООО Ромашка"
    assert found.json()["segment"] == "corporate"
    assert found.json()["owner"]["name"] == "Anna Owner"
    routed = await crm.ring(phone)
    assert (routed["destination"], routed["employee_id"]) == ("owner", made.json()["employee_id"])

    # And the same requests again change nothing, and say so
    again = await crm.put_client(external_id, name="ООО Ромашка", segment="corporate",
                                 phones=[{"number": phone, "contact_name": "Иван"}],
                                 tax_id="7701234567", owner_email=owner)
    assert (again.status_code, again.json()["result"], again.json()["changed"]) == (
        200, "unchanged", [])
    employee_again = await crm.put_employee(owner, name="Anna Owner", extension=extension)
    assert employee_again.json()["result"] == "unchanged", employee_again.text

    # And each change is one line of the audit log, with the CRM as the principal
    [client_line] = await crm.audit("client.upsert", external_id)
    assert (client_line["principal_kind"], client_line["principal"]) == ("integration",
                                                                          crm.name)
    assert json.loads(client_line["detail"])["result"] == "created"
    [employee_line] = await crm.audit("employee.upsert", owner)
    assert json.loads(employee_line["detail"])["result"] == "created"


async def test_a_freed_client_no_longer_rings_the_owner_and_a_new_owner_does(crm: Crm):
    first, second = new_email("first"), new_email("second")
    for email in (first, second):
        assert (await crm.put_employee(email)).status_code == 201
    external_id, phone = f"crm-{random_id()}", random_phone()
    await crm.put_client(external_id, phones=[phone], owner_email=first)
    first_id = str(stable_id("employee", first))
    assert (await crm.ring(phone))["employee_id"] == first_id

    # When the CRM frees the client
    freed = await crm.lookup.put(f"/v1/clients/{external_id}/owner", json={"owner_email": None},
                                 headers=crm.headers)
    assert freed.status_code == 200, freed.text
    assert (freed.json()["result"], freed.json()["owner"]) == ("updated", None)
    again = await crm.lookup.put(f"/v1/clients/{external_id}/owner", json={"owner_email": None},
                                 headers=crm.headers)
    assert again.json()["result"] == "unchanged"

    # Then its next call does not go to the former owner
    routed = await crm.ring(phone)
    assert routed["destination"] != "owner" and routed["employee_id"] != first_id
    assert (await crm.look_up(phone)).json()["owner"] is None

    # And an owner set by the CRM owns it from now on
    owned = await crm.lookup.put(f"/v1/clients/{external_id}/owner",
                                 json={"owner_email": second}, headers=crm.headers)
    assert owned.json()["owner"]["employee_id"] == str(stable_id("employee", second))
    [ownership] = await crm.fetch(
        "SELECT since, last_activity_at FROM ownership WHERE client_id = $1",
        stable_id("client", external_id))
    assert ownership["since"] == ownership["last_activity_at"]
    assert (await crm.ring(phone))["employee_id"] == str(stable_id("employee", second))
    lines = await crm.audit("client.owner", external_id)
    assert [json.loads(line["detail"])["owner"] for line in lines] == [None, second]


async def test_phones_and_ranges_are_the_clients_own_and_a_number_moves(crm: Crm):
    x, y = f"crm-{random_id()}", f"crm-{random_id()}"
    kept, dropped, shared = random_phone(), random_phone(), random_phone()
    prefix = "+7495" + random_extension()[:4]  # a range of 1000 numbers
    await crm.put_client(x, phones=[kept, dropped, shared])
    moved = await crm.put_client(y, phones=[shared], number_ranges=[prefix])
    assert moved.json()["moved"] == [{"number": shared, "from_external_id": x}]
    changed = await crm.put_client(x, name="X renamed", phones=[kept])
    assert changed.json()["result"] == "updated"
    assert changed.json()["changed"] == ["name", "phones"]
    assert (await crm.look_up(dropped)).status_code == 404
    assert (await crm.look_up(shared)).json()["client"]["client_id"] == str(stable_id("client", y))
    assert (await crm.look_up(prefix + "123")).json()["client"]["name"] == f"Client {y}"
    # A field left out stays as it is
    renamed = await crm.put_client(x, name="X renamed")
    assert renamed.json()["result"] == "unchanged"
    assert (await crm.look_up(kept)).json()["client"]["name"] == "X renamed"


@pytest.mark.parametrize(("path", "fields", "where", "error"), [
    ("clients", {"segment": "госсектор"}, "segment", "segment 'госсектор' is not one of"),
    ("clients", {"name": " "}, "name", "name is empty"),
    ("clients", {"phones": ["+7 916 111-11-11", "hello"]}, "phones.1",
     "'hello' is not a phone number"),
    ("clients", {"number_ranges": ["+7 49"]}, "number_ranges.0",
     "'+7 49' is not a number prefix like '+7 495 100-' (6 to 15 digits)"),
    ("clients", {"owner_email": "Иванов Иван"}, "owner_email",
     "owner 'Иванов Иван' is not an e-mail address"),
    ("clients", {"owner_email": f"nobody@{DOMAIN}"}, "owner_email",
     f"no employee has the e-mail nobody@{DOMAIN}"),
    ("clients", {"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ("employees", {"department": "sales dept"}, "department",
     "department 'sales dept' is not client or commercial"),
    ("employees", {"role": "boss"}, "role", "role 'boss' is not agent or head"),
    ("employees", {"extension": "1"}, "extension", "extension '1' is not 2 to 6 digits"),
    ("employees", {"direct_number": "hello"}, "direct_number", "'hello' is not a phone number"),
    ("employees", {"capacity": -3}, "capacity", "capacity -3 is negative"),
    ("employees", {"capacity": "x"}, "capacity", "capacity 'x' is not a whole number"),
])
async def test_a_bad_field_is_refused_with_the_imports_words(crm: Crm, path, fields, where,
                                                             error):
    if path == "clients":
        answer = await crm.put_client(f"crm-{random_id()}", **fields)
    else:
        answer = await crm.put_employee(new_email(), **fields)
    assert answer.status_code == 422, answer.text
    assert answer.json()["where"] == where
    assert answer.json()["error"].startswith(error)


async def test_a_bad_e_mail_in_the_path_and_a_line_someone_else_holds(crm: Crm):
    bad = await crm.put_employee("not-an-email")
    assert (bad.status_code, bad.json()) == (
        422, {"error": "'not-an-email' is not an e-mail address", "where": "email"})
    extension = random_extension()
    holder = new_email("holder")
    assert (await crm.put_employee(holder, extension=extension)).status_code == 201
    taken = await crm.put_employee(new_email(), extension=f"доб. {extension}")
    assert (taken.status_code, taken.json()) == (
        409, {"error": f"{extension} belongs to {holder}; free it there first",
              "where": "extension"})


async def test_an_employee_put_keeps_what_it_leaves_out_and_changes_the_rest(crm: Crm):
    email, direct = new_email(), random_phone()
    await crm.put_employee(email, direct_number=direct, capacity=4)
    changed = await crm.put_employee(email, name="Renamed", on_leave=True)
    assert (changed.json()["result"], changed.json()["changed"]) == ("updated",
                                                                     ["name", "on_leave"])
    [row] = await crm.fetch("SELECT name, direct_number, capacity, on_leave, active "
                            "FROM employees WHERE email = $1", email)
    assert tuple(row) == ("Renamed", direct, 4, True, True)
    cleared = await crm.put_employee(email, name="Renamed", direct_number=None)
    assert cleared.json()["changed"] == ["direct_number"]


async def test_a_deleted_client_is_an_unknown_caller_and_a_second_delete_is_404(crm: Crm):
    external_id, phone = f"crm-{random_id()}", random_phone()
    await crm.put_client(external_id, phones=[phone])
    deleted = await crm.lookup.delete(f"/v1/clients/{external_id}", headers=crm.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["result"] == "deleted"
    assert (await crm.look_up(phone)).status_code == 404
    again = await crm.lookup.delete(f"/v1/clients/{external_id}", headers=crm.headers)
    assert (again.status_code, again.json()["where"]) == (404, "external_id")
    assert len(await crm.audit("client.delete", external_id)) == 1


async def lead_of(crm: Crm) -> uuid.UUID:
    """An open lead of a client (no assignee needed to be closed)."""
    external_id = f"crm-{random_id()}"
    await crm.put_client(external_id, phones=[random_phone()])
    lead_id = uuid.uuid4()
    conn = await asyncpg.connect(crm.infra.database_url)
    try:
        await conn.execute(
            "INSERT INTO leads (lead_id, call_id, client_id, department) "
            "VALUES ($1, $2, $3, 'commercial')",
            lead_id, f"crm-it:{random_id()}", stable_id("client", external_id))
    finally:
        await conn.close()
    return lead_id


async def test_an_outcome_posted_twice_arrives_on_deals_closed_once(crm: Crm):
    lead_id = await lead_of(crm)
    outcome = {"outcome": "won", "value": "1200000", "currency": "RUB"}
    async with TopicWatch(crm.infra.bootstrap, DEALS) as watch:
        first = await crm.lookup.post(f"/v1/leads/{lead_id}/outcome", json=outcome,
                                      headers=crm.headers)
        second = await crm.lookup.post(f"/v1/leads/{lead_id}/outcome", json=outcome,
                                       headers=crm.headers)
        await watch.wait_for(lambda r: body(r).get("lead_id") == str(lead_id))
        await watch.settle(1.5)
    assert (first.status_code, first.json()["result"]) == (202, "published"), first.text
    assert (second.status_code, second.json()["result"]) == (200, "unchanged"), second.text
    assert first.json()["event_id"] == second.json()["event_id"] == str(
        stable_id("deal", lead_id, "won"))
    [deal] = [body(r) for r in watch.records if body(r).get("lead_id") == str(lead_id)]
    assert (deal["event_type"], deal["outcome"], deal["currency"]) == ("DealClosed", "won",
                                                                      "RUB")
    assert deal["event_id"] == first.json()["event_id"]
    # Another outcome of the same lead is refused: an outcome counts once
    lost = await crm.lookup.post(f"/v1/leads/{lead_id}/outcome", json={"outcome": "lost"},
                                 headers=crm.headers)
    assert (lost.status_code, lost.json()["where"]) == (409, "outcome"), lost.text
    [line] = await crm.audit("deal.outcome", str(lead_id))
    assert json.loads(line["detail"])["outcome"] == "won"


async def test_an_outcome_of_an_unknown_lead_or_without_currency_is_refused(crm: Crm):
    unknown = await crm.lookup.post(f"/v1/leads/{uuid.uuid4()}/outcome",
                                    json={"outcome": "lost"}, headers=crm.headers)
    assert (unknown.status_code, unknown.json()["where"]) == (404, "lead_id")
    no_currency = await crm.lookup.post(f"/v1/leads/{await lead_of(crm)}/outcome",
                                        json={"outcome": "won", "value": 10},
                                        headers=crm.headers)
    assert (no_currency.status_code, no_currency.json()) == (
        422, {"error": "a value needs its currency", "where": "currency"})


@pytest.mark.parametrize(("method", "path", "payload", "scope"), [
    ("PUT", "/v1/clients/crm-x", {"name": "X", "segment": "corporate"}, Scope.CLIENTS_WRITE),
    ("DELETE", "/v1/clients/crm-x", None, Scope.CLIENTS_WRITE),
    ("PUT", "/v1/clients/crm-x/owner", {"owner_email": None}, Scope.CLIENTS_WRITE),
    ("PUT", f"/v1/employees/x@{DOMAIN}",
     {"name": "X", "department": "client", "role": "agent"}, Scope.EMPLOYEES_WRITE),
    ("POST", f"/v1/leads/{uuid.uuid4()}/outcome", {"outcome": "won"}, Scope.DEALS_WRITE),
])
async def test_every_change_needs_a_token_with_its_scope(crm: Crm, method, path, payload, scope):
    others = [s for s in Scope if s is not scope]
    lacking = await token(crm.infra.database_url, *others)
    nobody = await crm.lookup.request(method, path, json=payload)
    assert nobody.status_code == 401 and nobody.json()["where"] == "Authorization"
    refused = await crm.lookup.request(method, path, json=payload, headers=bearer(lacking))
    assert refused.status_code == 403 and scope.value in refused.json()["error"]


async def person_token(crm: Crm, email: str, *, department: str, role: str) -> dict[str, str]:
    """An employee made by the CRM, and their bearer token."""
    made = await crm.put_employee(email, department=department, role=role)
    assert made.status_code == 201, made.text
    conn = await asyncpg.connect(crm.infra.database_url)
    try:
        return bearer(await api_token(conn, employee_id=stable_id("employee", email)))
    finally:
        await conn.close()


async def test_an_agent_corrects_a_client_but_takes_no_colleagues_client(crm: Crm):
    # Given a client a negotiator owns, and a colleague of theirs
    owner, colleague = new_email("owner"), new_email("colleague")
    await person_token(crm, owner, department="commercial", role="agent")
    other = await person_token(crm, colleague, department="commercial", role="agent")
    external_id, phone = f"crm-{random_id()}", random_phone()
    await crm.put_client(external_id, phones=[phone], owner_email=owner)
    client = f"/v1/clients/{external_id}"
    named = {"name": "Renamed by a colleague", "segment": "corporate"}

    # When the colleague makes themselves the owner, or removes the client
    taken = await crm.lookup.put(f"{client}/owner", json={"owner_email": colleague},
                                 headers=other)
    freed = await crm.lookup.put(f"{client}/owner", json={"owner_email": None}, headers=other)
    deleted = await crm.lookup.delete(client, headers=other)
    put_as_owner = await crm.lookup.put(client, json={**named, "owner_email": colleague},
                                        headers=other)
    # Then each is refused, the upsert wholly (the name stays too)
    for refused in (taken, freed, deleted):
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"error": refused.json()["error"], "where": "scope"}
        assert "owners:write" in refused.json()["error"]
    assert put_as_owner.status_code == 403, put_as_owner.text
    assert put_as_owner.json()["where"] == "owner_email"
    assert "owners:write" in put_as_owner.json()["error"]
    found = (await crm.look_up(phone)).json()
    assert found["client"]["name"] == f"Client {external_id}"
    assert found["owner"]["employee_id"] == str(stable_id("employee", owner))

    # But a correction that names the owner it has, or none, goes through
    same_owner = await crm.lookup.put(client, json={**named, "owner_email": owner},
                                      headers=other)
    assert (same_owner.status_code, same_owner.json()["changed"]) == (200, ["name"])
    no_owner_named = await crm.lookup.put(client, json={**named, "phones": []}, headers=other)
    assert (no_owner_named.status_code, no_owner_named.json()["changed"]) == (200, ["phones"])
    assert await crm.audit("client.owner", external_id) == []
    assert await crm.audit("client.delete", external_id) == []


async def test_an_operator_adds_a_client_without_an_owner_and_a_head_gives_it_one(crm: Crm):
    operator_email, head_email = new_email("operator"), new_email("head")
    operator = await person_token(crm, operator_email, department="client", role="agent")
    head = await person_token(crm, head_email, department="commercial", role="head")
    # The desk's "create client": a name, a segment and the caller's number, no owner
    mine, theirs = f"crm-{random_id()}", f"crm-{random_id()}"
    owned = await crm.lookup.put(f"/v1/clients/{mine}", headers=operator, json={
        "name": "Mine", "segment": "small_business", "phones": [random_phone()],
        "owner_email": operator_email})
    created = await crm.lookup.put(f"/v1/clients/{theirs}", headers=operator, json={
        "name": "Theirs", "segment": "small_business", "phones": [random_phone()]})
    assert (owned.status_code, owned.json()["where"]) == (403, "owner_email"), owned.text
    assert await crm.fetch("SELECT 1 FROM clients WHERE external_id = $1", mine) == []
    assert created.status_code == 201, created.text
    # The head gives it an owner, and may remove a client
    given = await crm.lookup.put(f"/v1/clients/{theirs}/owner", headers=head,
                                 json={"owner_email": operator_email})
    assert (given.status_code, given.json()["result"]) == (200, "updated"), given.text
    [line] = await crm.audit("client.owner", theirs)
    assert line["principal"] == head_email
    removed = await crm.lookup.delete(f"/v1/clients/{theirs}", headers=head)
    assert removed.status_code == 200, removed.text


async def test_a_crm_given_clients_write_alone_sets_owners_and_removes_clients(crm: Crm):
    # As a CRM issued `switchboard integration add NAME --scope clients:write` is
    owner = new_email("owner")
    assert (await crm.put_employee(owner)).status_code == 201
    only_clients = bearer(await token(crm.infra.database_url, Scope.CLIENTS_WRITE))
    external_id = f"crm-{random_id()}"
    created = await crm.lookup.put(f"/v1/clients/{external_id}", headers=only_clients, json={
        "name": "Owned", "segment": "corporate", "owner_email": owner})
    assert created.status_code == 201, created.text
    freed = await crm.lookup.put(f"/v1/clients/{external_id}/owner", headers=only_clients,
                                 json={"owner_email": None})
    assert (freed.status_code, freed.json()["owner"]) == (200, None), freed.text
    removed = await crm.lookup.delete(f"/v1/clients/{external_id}", headers=only_clients)
    assert removed.status_code == 200, removed.text
