"""The lookup against the real PostgreSQL and broker: who is calling, whose client, shopping?"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from services.lookup import service as lookup_service
from services.lookup.policy import LookupRules
from services.lookup.repository import ClientBase
from services.lookup.service import Lookup
from shared import topics
from shared.events import CallerStatus, CallReceived
from switchboard.devstack import Services
from tests.conftest import Endpoints
from tests.fakes.publishing import RecordingPublisher
from tests.support import (
    TopicWatch,
    about,
    body,
    employee_with_line,
    employee_with_token,
    publish,
    random_id,
    random_phone,
    seed_employee,
)

pytestmark = pytest.mark.integration

ENRICHED, ALERTS = topics.CALLS_ENRICHED.name, topics.ALERTS_SHOPPING_AROUND.name


async def make_client(url: str, phones: list[str], ranges: list[str] = (),
                      owner: uuid.UUID | None = None, quiet_days: float = 1,
                      segment: str = "corporate") -> uuid.UUID:
    conn = await asyncpg.connect(url)
    try:
        client_id = uuid.uuid4()
        await conn.execute("INSERT INTO clients (client_id, name, segment) VALUES ($1, $2, $3)",
                           client_id, f"Client {client_id.hex[:6]}", segment)
        for phone in phones:
            await conn.execute("INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)",
                               phone, client_id)
        for prefix in ranges:
            await conn.execute(
                "INSERT INTO client_number_ranges (prefix, client_id) VALUES ($1, $2)",
                prefix, client_id)
        if owner:
            now = datetime.now(UTC)
            await conn.execute(
                """INSERT INTO ownership (client_id, employee_id, since, last_activity_at)
                   VALUES ($1, $2, $3, $4)""",
                client_id, owner, now - timedelta(days=90), now - timedelta(days=quiet_days))
        return client_id
    finally:
        await conn.close()




def call(caller: str | None, dialed: str = "+74951000000", call_id: str | None = None
         ) -> CallReceived:
    call_id = call_id or f"lookup-test:{random_id()}"
    now = datetime.now(UTC)
    return CallReceived(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, call_id), occurred_at=now, call_id=call_id,
        pbx="lookup-test", caller=caller, caller_raw=caller or "",
        caller_status=CallerStatus.EXTERNAL if caller else CallerStatus.WITHHELD,
        dialed=dialed, started_at=now,
    )


async def enrich(infra: Endpoints, *calls: CallReceived, alerts: bool = False) -> list[dict]:
    """Publishes the calls to calls.received; returns their CallEnriched, in order."""
    async with TopicWatch(infra.bootstrap, ENRICHED, ALERTS) as watch:
        for c in calls:
            await publish(infra.bootstrap, topics.CALLS_RECEIVED.name,
                          c.model_dump_json().encode())
            await watch.wait_for(about(c.call_id, ENRICHED))
        if alerts:
            await watch.wait_for(about(calls[-1].call_id, ALERTS))
        enrich.last_alerts = [body(r) for r in watch.records if r.topic == ALERTS]
    return [body((await watch.wait_for(about(c.call_id, ENRICHED)))[0]) for c in calls]


async def test_exact_number_and_longest_range_match(infra, services: Services):
    # Given a company with one exact number and a PBX range, and a subsidiary whose longer
    # range sits inside the company's
    base = "+7495" + str(uuid.uuid4().int)[:5]  # +7 495 XXXXX: a range of 100 numbers
    exact = random_phone()
    company = await make_client(infra.database_url, [exact], [base])
    subsidiary = await make_client(infra.database_url, [], [base + "7"])
    # When calls come from the exact number, a number in the range, and one in the longer range
    by_exact, by_range, by_longer = await enrich(
        infra, call(exact), call(base + "12"), call(base + "71"))
    # Then each finds the right client
    assert by_exact["client"]["client_id"] == str(company)
    assert by_range["client"]["client_id"] == str(company)
    assert by_longer["client"]["client_id"] == str(subsidiary)


async def test_the_same_client_reached_by_two_of_its_numbers(infra, services):
    mobile, office = random_phone(), random_phone()
    client = await make_client(infra.database_url, [mobile, office])
    first, second = await enrich(infra, call(mobile), call(office))
    assert first["client"]["client_id"] == second["client"]["client_id"] == str(client)
    assert [c["call_id"] for c in second["recent_contacts"]] == [first["call_id"]]


async def test_lapsed_ownership_is_not_reported_as_current(infra, services):
    conn = await asyncpg.connect(infra.database_url)
    owner = await seed_employee(conn)
    await conn.close()
    fresh, lapsed = random_phone(), random_phone()
    await make_client(infra.database_url, [fresh], owner=owner, quiet_days=29)
    await make_client(infra.database_url, [lapsed], owner=owner, quiet_days=31)
    by_fresh, by_lapsed = await enrich(infra, call(fresh), call(lapsed))
    assert by_fresh["ownership"]["owner"]["employee_id"] == str(owner)
    assert by_lapsed["ownership"] is None


async def test_owned_client_reaching_another_employee_is_shopping(infra, services):
    owner, owner_line = await employee_with_line(infra.database_url)
    other, other_line = await employee_with_line(infra.database_url)
    phone = random_phone()
    client = await make_client(infra.database_url, [phone], owner=owner)
    # One step short: the client calls their owner's line: no flag.
    (to_owner,) = await enrich(infra, call(phone, owner_line))
    assert to_owner["shopping_around"] is False
    # Then the client calls another salesperson's line: the flag and an alert.
    (to_other,) = await enrich(infra, call(phone, other_line), alerts=True)
    assert to_other["shopping_around"] is True
    assert to_other["shopping_rules"] == ["other_than_owner"]
    (alert,) = [a for a in enrich.last_alerts if a["call_id"] == to_other["call_id"]]
    assert alert["client"]["client_id"] == str(client)
    assert alert["owner"]["employee_id"] == str(owner)
    assert alert["reached"]["employee_id"] == str(other)
    assert str(owner) in alert["notify"]


async def test_k_different_employees_within_the_window_is_shopping(infra, services):
    # No owner; K = 3 different employees within W = 14 days (the defaults).
    lines = [(await employee_with_line(infra.database_url))[1] for _ in range(3)]
    phone = random_phone()
    await make_client(infra.database_url, [phone])
    first, second = await enrich(infra, call(phone, lines[0]), call(phone, lines[1]))
    # Two employees, and the same one again: one step short.
    (again,) = await enrich(infra, call(phone, lines[1]))
    assert not (first["shopping_around"] or second["shopping_around"]
                or again["shopping_around"])
    (third,) = await enrich(infra, call(phone, lines[2]), alerts=True)
    assert third["shopping_around"] is True
    assert third["shopping_rules"] == ["many_employees"]


async def test_a_batch_sees_the_contacts_of_its_own_earlier_calls(infra):
    # Given one client calling three employees' lines, the three calls in one batch
    lines = [(await employee_with_line(infra.database_url))[1] for _ in range(3)]
    phone = random_phone()
    await make_client(infra.database_url, [phone])
    calls = [call(phone, line) for line in lines]
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=2)
    try:
        deps = Lookup(clients=ClientBase(pool), publisher=RecordingPublisher(),
                      rules=LookupRules())
        # When the lookup enriches the batch (one look-up, one contact write)
        out = await lookup_service.enrich_calls(deps, calls)
        # Then each call sees the ones before it: the third is the third employee (K = 3)
        assert [len(e.enriched.recent_contacts) for e in out] == [0, 1, 2]
        assert [e.enriched.shopping_around for e in out] == [False, False, True]
        assert out[2].alert is not None and out[2].enriched.shopping_rules == ["many_employees"]
        assert len({e.key for e in out}) == 1  # one client, one key: one partition, in order
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM contacts WHERE call_id = ANY($1)",
                                       [c.call_id for c in calls]) == 3
    finally:
        await pool.close()


async def test_redelivered_call_received_writes_one_contact(infra, services):
    phone = random_phone()
    await make_client(infra.database_url, [phone])
    c = call(phone)
    async with TopicWatch(infra.bootstrap, ENRICHED) as watch:
        await publish(infra.bootstrap, topics.CALLS_RECEIVED.name,
                      c.model_dump_json().encode(), c.model_dump_json().encode())
        copies = await watch.wait_for(about(c.call_id, ENRICHED), count=2)
    assert len({body(x)["event_id"] for x in copies}) == 1
    conn = await asyncpg.connect(infra.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM contacts WHERE call_id = $1",
                                   c.call_id) == 1
    finally:
        await conn.close()


async def test_caller_look_up_for_operators(infra, services):
    conn = await asyncpg.connect(infra.database_url)
    owner = await seed_employee(conn, name="Anna Ivanova")
    await conn.close()
    phone = random_phone()
    client = await make_client(infra.database_url, [phone], owner=owner)
    await enrich(infra, call(phone))
    lookup = services.running["lookup"].url
    national = "8 (" + phone[2:5] + ") " + phone[5:8] + "-" + phone[8:10] + "-" + phone[10:]
    _, token = await employee_with_token(infra.database_url, department="client")
    async with httpx.AsyncClient(base_url=lookup,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        found = await http.get(f"/v1/callers/{national}")
        unknown = await http.get(f"/v1/callers/{random_phone()}")
        garbage = await http.get("/v1/callers/not-a-number")
    assert found.status_code == 200
    assert found.json()["client"]["client_id"] == str(client)
    assert found.json()["owner"]["name"] == "Anna Ivanova"
    assert len(found.json()["recent_contacts"]) == 1
    assert unknown.status_code == 404 and unknown.json()["known"] is False
    assert garbage.status_code == 400 and "not a phone number" in garbage.json()["error"]
