"""The four services' handlers chained on FastStream's in-memory broker, with fakes of our
own ports (the client base, the leads store)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from faststream.kafka import TestKafkaBroker

from services.assignment.policy import lead_id_for
from services.lookup.policy import CallerRecord, OwnershipRecord
from shared import topics
from shared.events import CallQualified, Category, ClientRef, Department, EmployeeRef, Strategy
from shared.kafka import make_broker
from shared.settings import KafkaSettings
from tests.component.wiring import wire_pipeline
from tests.fakes.assignment import InMemoryLeads, Staff
from tests.fakes.intake import FakeAcceptedCalls
from tests.fakes.lookup import FakeClientBase
from tests.conftest import RULES_ALWAYS_OPEN

NOW = datetime.now(UTC)
CLIENT = ClientRef(client_id=uuid.uuid4(), name="Romashka LLC", segment="corporate")
OWNER = EmployeeRef(employee_id=uuid.uuid4(), name="Anna Ivanova",
                    department=Department.COMMERCIAL)


@pytest.fixture
def pipeline():
    leads = InMemoryLeads([Staff(OWNER)])
    owned = CallerRecord(CLIENT, OwnershipRecord(OWNER, NOW, NOW))
    broker = wire_pipeline(make_broker(KafkaSettings(), "component"), calls=FakeAcceptedCalls(),
                           clients=FakeClientBase({"+79161234567": owned}), leads=leads,
                           rules_file=RULES_ALWAYS_OPEN)
    return broker, leads


def pbx_event(caller: str, call_id: str = "c1") -> bytes:
    return json.dumps({"pbx": "p", "call_id": call_id, "caller": caller,
                       "dialed": "+74951000000"}).encode()


def qualified_on_the_owners_card(call_id: str) -> bytes:
    """The owner marks the call commercial, a small deal (the desk's `calls.qualified`)."""
    return CallQualified(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), call_id=call_id,
                         category=Category.COMMERCIAL, deal_value=90_000, currency="RUB",
                         operator_id=OWNER.employee_id, caller="+79161234567",
                         client_id=CLIENT.client_id, client_name=CLIENT.name,
                         segment=CLIENT.segment).model_dump_json().encode()


async def test_owned_caller_ends_as_the_owners_lead(pipeline):
    broker, leads = pipeline
    async with TestKafkaBroker(broker) as br:
        await br.publish(pbx_event("8 916 123-45-67"), topics.PBX_EVENTS.name)
        routed = leads.decisions["p:c1"]
        assert leads.published == set()  # ringing, the call is a contact
        await br.publish(qualified_on_the_owners_card("p:c1"), topics.CALLS_QUALIFIED.name)
    assert routed.destination == "owner" and routed.employee_id == OWNER.employee_id
    assert leads.published == {lead_id_for("p:c1")}
    assert leads.leads[lead_id_for("p:c1")].employee_id == OWNER.employee_id


async def test_malformed_payload_is_rejected_not_raised(pipeline):
    broker, leads = pipeline
    rejected = []

    @broker.subscriber(topics.CALLS_REJECTED.name)
    async def collect(event: dict):
        rejected.append(event)

    async with TestKafkaBroker(broker) as br:
        await br.publish(b"{not json", topics.PBX_EVENTS.name)
        await br.publish(pbx_event("+79990000000", "c2"), topics.PBX_EVENTS.name)
    assert [r["service"] for r in rejected] == ["intake"]
    assert rejected[0]["reason"].startswith("not JSON")
    assert leads.decisions["p:c2"].destination == "client_department"


async def test_a_call_sent_twice_is_received_once_and_leads_once(pipeline):
    broker, leads = pipeline
    assigned, received = [], []

    @broker.subscriber(topics.LEADS_ASSIGNED.name)
    async def collect(event: dict):
        assigned.append(event)

    @broker.subscriber(topics.CALLS_RECEIVED.name)
    async def collect_received(event: dict):
        received.append(event)

    async with TestKafkaBroker(broker) as br:
        await br.publish(pbx_event("+79161234567", "c3"), topics.PBX_EVENTS.name)
        await br.publish(pbx_event("+79161234567", "c3"), topics.PBX_EVENTS.name)
        await br.publish(qualified_on_the_owners_card("p:c3"), topics.CALLS_QUALIFIED.name)
    assert [r["call_id"] for r in received] == ["p:c3"]
    assert [a["call_id"] for a in assigned] == ["p:c3"]
    assert assigned[0]["strategy"] == Strategy.OWNER


async def test_handlers_resolve_their_parameters_on_the_event_loop(pipeline, monkeypatch):
    # FastDepends sends a synchronous custom field (FastStream's own Context) to a worker
    # thread on every message; shared.kafka.Context is awaited in place.
    import anyio.to_thread

    handed_off = []
    real = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        handed_off.append(getattr(func, "func", func))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    broker, leads = pipeline
    async with TestKafkaBroker(broker) as br:
        await br.publish(pbx_event("8 916 123-45-67", "c-loop"), topics.PBX_EVENTS.name)
    assert leads.decisions["p:c-loop"].destination == "owner"  # all four handlers ran
    assert handed_off == []
