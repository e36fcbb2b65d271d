"""A call travels through the four services, running as processes, on the real broker and
database."""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import httpx
import pytest

from shared import topics
from shared.events import CallQualified, Category, utcnow
from shared.kafka import group_id
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, Endpoints
from tests.support import (SeededClient, TopicWatch, about, body, generic_call, publish,
                           random_phone, seed_client, signed, wait_committed)

pytestmark = pytest.mark.e2e

RECEIVED, ROUTED, ASSIGNED, REJECTED = (
    topics.CALLS_RECEIVED.name, topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name,
    topics.CALLS_REJECTED.name)


def national(e164: str) -> str:
    """+79161234567 -> '8 (916) 123-45-67', the way a Russian PBX may send it."""
    d = e164[2:]
    return f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"


async def qualify_on_the_owners_card(infra: Endpoints, client: SeededClient,
                                     call_id: str) -> None:
    """The owner marks the call commercial, a small deal: the desk's `calls.qualified`."""
    qualified = CallQualified(
        event_id=uuid.uuid4(), occurred_at=utcnow(), call_id=call_id,
        category=Category.COMMERCIAL, deal_value=Decimal(90_000), currency="RUB",
        operator_id=client.owner_id, caller=client.phone, client_id=client.client_id)
    await publish(infra.bootstrap, topics.CALLS_QUALIFIED.name,
                  qualified.model_dump_json().encode())


def at_stage(stage: str):
    return lambda record: body(record)["stage"] == stage


async def test_owned_client_is_routed_to_the_owner(infra: Endpoints, services: Services):
    # Given a client owned by an employee
    client = await seed_client(infra.database_url, owned=True)
    call_id, payload = generic_call(national(client.phone))
    async with TopicWatch(infra.bootstrap, ROUTED, ASSIGNED) as watch:
        # When the client calls, their number written the national way
        await publish(infra.bootstrap, topics.PBX_EVENTS.name, payload)
        [record] = await watch.wait_for(about(call_id, ROUTED))
        routed = body(record)
        await wait_committed(infra.bootstrap, group_id("assignment"), record)
        ringing = [r for r in watch.records if about(call_id, ASSIGNED)(r)]
        # and the owner marks it commercial
        await qualify_on_the_owners_card(infra, client, call_id)
        assigned = body((await watch.wait_for(about(call_id, ASSIGNED)))[0])
    # Then the call goes back to the owner, a contact while it rings; qualified commercial,
    # it is the owner's lead
    assert ringing == []
    assert routed["destination"] == "owner"
    assert routed["employee_id"] == str(client.owner_id)
    assert routed["client_id"] == str(client.client_id)
    assert client.owner_name in routed["reasons"][0]
    assert assigned["employee_id"] == str(client.owner_id)
    assert assigned["strategy"] == "owner"


async def test_unknown_caller_goes_to_the_client_department(infra: Endpoints,
                                                             services: Services):
    call_id, payload = generic_call(random_phone())
    async with TopicWatch(infra.bootstrap, ROUTED) as watch:
        await publish(infra.bootstrap, topics.PBX_EVENTS.name, payload)
        routed = body((await watch.wait_for(about(call_id, ROUTED)))[0])
    assert routed["destination"] == "client_department"
    assert routed["client_id"] is None and routed["employee_id"] is None
    assert "unknown caller" in routed["reasons"][0]


async def test_malformed_event_is_rejected_and_the_next_goes_through(infra: Endpoints,
                                                                      services: Services):
    call_id, valid = generic_call(random_phone())
    bad_call_id, _ = generic_call(None)
    malformed = b'{"pbx": "test-pbx", "call_id": "%s", "caller": "+79160000000"}' % (
        bad_call_id.split(":")[1].encode())
    async with TopicWatch(infra.bootstrap, ROUTED, REJECTED) as watch:
        await publish(infra.bootstrap, topics.PBX_EVENTS.name, malformed, b"not json at all",
                      valid)
        rejected = body((await watch.wait_for(about(bad_call_id, REJECTED)))[0])
        await watch.wait_for(
            lambda r: r.topic == REJECTED and body(r)["payload"] == "not json at all")
        await watch.wait_for(about(call_id, ROUTED))
    assert rejected["where"] == "dialed"
    assert rejected["reason"] == "Field required"
    assert rejected["service"] == "intake" and rejected["source_topic"] == "pbx.events"


async def test_same_pbx_event_twice_gives_one_decision_and_one_lead(infra: Endpoints,
                                                                     services: Services):
    client = await seed_client(infra.database_url, owned=True)
    call_id, payload = generic_call(client.phone)
    async with TopicWatch(infra.bootstrap, topics.PBX_EVENTS.name, RECEIVED, ROUTED,
                          ASSIGNED) as watch:
        # When the PBX sends the same event twice (and the owner qualifies the call)
        await publish(infra.bootstrap, topics.PBX_EVENTS.name, payload, payload)
        copies = await watch.wait_for(lambda r: r.topic == topics.PBX_EVENTS.name
                                      and r.value == payload, count=2)
        await watch.wait_for(about(call_id, ROUTED))
        await qualify_on_the_owners_card(infra, client, call_id)
        await watch.wait_for(about(call_id, ASSIGNED))
        await wait_committed(infra.bootstrap, group_id("intake"), copies[-1])
        await watch.settle(1.0)
    # Then the call is received once, decided once when it rings (and once qualified), and
    # one lead is announced
    for topic in (RECEIVED, ASSIGNED):
        assert len([r for r in watch.records if about(call_id, topic)(r)]) == 1, topic
    ring = [r for r in watch.records if about(call_id, ROUTED)(r) and at_stage("ring")(r)]
    assert len(ring) == 1
    assert await count_rows(infra, "call_decisions", call_id) == 2  # ring, qualified
    assert await count_rows(infra, "leads", call_id) == 1


async def test_redelivered_call_routed_changes_nothing(infra: Endpoints, services: Services):
    client = await seed_client(infra.database_url, owned=True)
    call_id, payload = generic_call(client.phone)
    async with TopicWatch(infra.bootstrap, ROUTED, ASSIGNED) as watch:
        await publish(infra.bootstrap, topics.PBX_EVENTS.name, payload)
        await watch.wait_for(about(call_id, ROUTED))
        await qualify_on_the_owners_card(infra, client, call_id)
        (routed,) = await watch.wait_for(lambda r: about(call_id, ROUTED)(r)
                                         and at_stage("qualified")(r))
        await watch.wait_for(about(call_id, ASSIGNED))
        # When the decision that made the lead is delivered to the assignment again
        await publish(infra.bootstrap, ROUTED, routed.value)
        again = await watch.wait_for(lambda r: about(call_id, ROUTED)(r)
                                     and at_stage("qualified")(r), count=2)
        await wait_committed(infra.bootstrap, group_id("assignment"), again[-1])
        await watch.settle(1.0)
    # Then no second lead, no second announcement
    assert len([r for r in watch.records if about(call_id, ASSIGNED)(r)]) == 1
    assert await count_rows(infra, "call_decisions", call_id) == 2  # ring, qualified
    assert await count_rows(infra, "leads", call_id) == 1


async def count_rows(infra: Endpoints, table: str, call_id: str) -> int:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return await conn.fetchval(f"SELECT count(*) FROM {table} WHERE call_id = $1", call_id)
    finally:
        await conn.close()


async def test_http_webhook_is_accepted_after_kafka_acknowledged(infra: Endpoints,
                                                                 services: Services):
    call_id, payload = generic_call(random_phone())
    intake = services.running["intake"].url
    async with TopicWatch(infra.bootstrap, ROUTED) as watch, httpx.AsyncClient() as http:
        response = await http.post(f"{intake}/v1/pbx/generic", content=payload,
                                   headers=signed("test-pbx", CONNECTORS["test-pbx"], payload))
        assert response.status_code == 202, response.text
        assert response.json()["call_id"] == call_id
        await watch.wait_for(about(call_id, ROUTED))


async def test_every_service_answers_health(services: Services):
    async with httpx.AsyncClient() as http:
        for service in services.running.values():
            assert (await http.get(f"{service.url}/health/live")).status_code == 200
            assert (await http.get(f"{service.url}/health/ready")).status_code == 200
