"""The router's handlers on FastStream's in-memory broker: the decision is published to
calls.routed, an invalid input goes to calls.rejected, and without its dependencies the
router neither decides nor rejects."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker

from services.router.handlers import router
from services.router.in_force import RulesInForce
from services.router.service import Routing
from shared import kafka, topics
from shared.events import Category, utcnow
from shared.kafka import Publisher, make_broker
from shared.settings import KafkaSettings
from tests.unit.router.factories import CLIENT, OPERATOR, enriched, qualified, rules

RULES = rules(departments={  # always on shift: the handlers use the real clock
    name: {"time_zone": "UTC", "hours": {"mon-sun": "00:00-24:00"}}
    for name in ("client", "commercial")})


def router_broker(*, installed: bool = True):
    broker = make_broker(KafkaSettings(), "router")
    broker.include_router(router)
    if installed:
        Routing(publisher=Publisher(broker),
                rules=RulesInForce(Path("x.yaml"), RULES, utcnow())).install(broker)
    seen: dict[str, list[dict]] = {"routed": [], "rejected": []}

    @broker.subscriber(topics.CALLS_ROUTED.name)
    async def routed(event: dict):
        seen["routed"].append(event)

    @broker.subscriber(topics.CALLS_REJECTED.name)
    async def rejected(event: dict):
        seen["rejected"].append(event)

    broker.seen = seen
    return broker


@pytest.fixture
def broker():
    return router_broker()


async def test_a_ringing_call_is_routed(broker):
    call = enriched(CLIENT, call_id="pbx:ring")
    async with TestKafkaBroker(broker) as br:
        await br.publish(call, topics.CALLS_ENRICHED.name)
    [routed] = broker.seen["routed"]
    assert routed["call_id"] == "pbx:ring" and routed["stage"] == "ring"
    assert routed["destination"] == "client_department"
    assert routed["rules_version"] == RULES.version


async def test_a_qualified_call_is_routed(broker):
    call = qualified(value="5000000", call_id="pbx:big")
    async with TestKafkaBroker(broker) as br:
        await br.publish(call, topics.CALLS_QUALIFIED.name)
    [routed] = broker.seen["routed"]
    assert routed["stage"] == "qualified" and routed["destination"] == "commercial_department"
    assert routed["size_class"] == "large" and routed["operator_id"] == str(OPERATOR)
    assert routed["event_id"] == str(uuid.uuid5(
        uuid.UUID("6f1c1a52-4a43-4f6e-9f55-2b9d0a4c8e11"), f"{call.event_id}:routed"))


async def test_an_invalid_verdict_is_rejected_and_the_next_goes_through(broker):
    bad = json.loads(qualified(call_id="pbx:bad").model_dump_json())
    bad["category"] = "maybe"
    good = qualified(Category.SPAM, call_id="pbx:good")
    async with TestKafkaBroker(broker) as br:
        await br.publish(json.dumps(bad).encode(), topics.CALLS_QUALIFIED.name)
        await br.publish(good, topics.CALLS_QUALIFIED.name)
    [rejected] = broker.seen["rejected"]
    assert rejected["call_id"] == "pbx:bad" and rejected["service"] == "router"
    assert rejected["source_topic"] == topics.CALLS_QUALIFIED.name
    # FastStream names the handler's argument first ("call.category"): the field is last.
    assert rejected["where"].split(".")[-1] == "category"
    assert rejected["reason"].startswith("Input should be 'commercial'")
    assert [r["call_id"] for r in broker.seen["routed"]] == ["pbx:good"]


async def test_without_its_dependencies_a_call_is_neither_routed_nor_rejected(monkeypatch):
    # The composition root's fault, not the input's: the message stays uncommitted.
    monkeypatch.setattr(kafka, "REDELIVERY_PAUSE_SECONDS", 0)
    broker = router_broker(installed=False)
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(RuntimeError, match="no Routing installed"):
            await br.publish(enriched(CLIENT, call_id="pbx:early"), topics.CALLS_ENRICHED.name)
    assert broker.seen == {"routed": [], "rejected": []}
