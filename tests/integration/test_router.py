"""The router as a process on the real broker: ring-time and qualification routing, a rules
change picked up live, a broken rules file refused while routing goes on.

The router under test runs with its own rules file. The session's four services (the e2e
tests) may run a second router in the same consumer group, with other rules, which then
takes some of the partitions. So the tests learn which partitions their router owns (it
stamps its rules version on every decision) and publish there; a decision that another
router made anyway (after a rebalance) is not taken for this router's.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from services.router.rules import rules_version
from shared import topics
from shared.events import (CallEnriched, CallerStatus, CallQualified, Category, ClientRef,
                           CompanySize, Department, EmployeeRef, Ownership, Segment,
                           ShoppingRule, derive_event_id)
from shared.settings import KafkaSettings
from switchboard.devstack import ServiceProcess, Services
from switchboard.infra import free_port
from switchboard.replay import input_partitions
from tests.conftest import Endpoints
from tests.support import TopicWatch, about, body, employee_with_token, publish, random_id

pytestmark = pytest.mark.integration

ENRICHED, QUALIFIED = topics.CALLS_ENRICHED.name, topics.CALLS_QUALIFIED.name
ROUTED, REJECTED = topics.CALLS_ROUTED.name, topics.CALLS_REJECTED.name
ALWAYS_OPEN = Path(__file__).with_name("rules_always_open.yaml")


def own_rules(note: str) -> str:
    """Rules with both departments always on shift (so the tests do not depend on the time
    of day), marked so that their version is this module's own."""
    return f"# router integration test {note}\n" + ALWAYS_OPEN.read_text()


class OwnRouter:
    """The router process under test, and the partitions it owns."""

    def __init__(self, infra: Endpoints, process: ServiceProcess, rules_file: Path,
                 watch: TopicWatch, token: str) -> None:
        self.infra, self.process, self.rules_file, self.watch = infra, process, rules_file, watch
        self.token = token  # an operator's: who may read the rules
        self.base = rules_file.read_text()  # the module's rules
        self.versions = {rules_version(rules_file.read_bytes())}
        self.mine: dict[str, list[int]] = {}

    async def rules_status(self) -> dict:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{self.process.url}/v1/rules",
                                    headers={"Authorization": f"Bearer {self.token}"})).json()

    async def send(self, topic: str, event: BaseModel | bytes, partition: int | None = None
                   ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.infra.bootstrap, acks="all")
        await producer.start()
        try:
            value = event if isinstance(event, bytes) else event.model_dump_json().encode()
            await producer.send_and_wait(topic, value, partition=partition)
        finally:
            await producer.stop()

    async def probe(self, timeout: float = 90) -> None:
        """Which partitions of the two input topics this router consumes: a probe call on
        each partition, and whose rules version decided it; until two rounds agree."""
        deadline = asyncio.get_running_loop().time() + timeout
        previous: dict[str, list[int]] | None = None
        while True:
            current: dict[str, list[int]] = {}
            known = await input_partitions(KafkaSettings(bootstrap=self.infra.bootstrap))
            for topic in (ENRICHED, QUALIFIED):
                probes = {tp.partition: self._probe_event(topic) for tp in known
                          if tp.topic == topic}
                for p, event in probes.items():
                    await self.send(topic, event, p)
                current[topic] = []
                for p, event in probes.items():
                    decisions = await self.watch.wait_for(about(event.call_id, ROUTED))
                    if any(body(d)["rules_version"] in self.versions for d in decisions):
                        current[topic].append(p)
            if current == previous and all(current.values()):
                self.mine = current
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the router under test owns no partition of some input "
                                   f"topic: {current}")
            previous = current
            await asyncio.sleep(1)

    @staticmethod
    def _probe_event(topic: str) -> BaseModel:
        call_id = f"router-it:probe-{random_id()}"
        now = datetime.now(UTC)
        if topic == ENRICHED:
            return CallEnriched(event_id=uuid.uuid4(), occurred_at=now, call_id=call_id,
                                pbx="router-it", caller=None, caller_raw="",
                                caller_status=CallerStatus.WITHHELD, dialed="100",
                                started_at=now)
        return CallQualified(event_id=uuid.uuid4(), occurred_at=now, call_id=call_id,
                             category=Category.SPAM, operator_id=uuid.uuid4())

    async def decide(self, topic: str, event: BaseModel, attempts: int = 3) -> dict:
        """Publishes `event` to a partition of this router; its decision (by this router)."""
        for _ in range(attempts):
            await self.send(topic, event, self.mine[topic][0])
            try:
                found = await self.watch.wait_for(
                    lambda r: about(event.call_id, ROUTED)(r)
                    and body(r)["rules_version"] in self.versions, timeout=20)
                return body(found[0])
            except TimeoutError:
                await self.probe()  # the partitions moved: find ours again
        raise TimeoutError(f"the router under test did not decide {event.call_id}")

    async def use_rules(self, text: str, timeout: float = 30) -> str:
        """Writes the rules file; the version once the router has it in force."""
        self.rules_file.write_text(text)
        version = rules_version(text.encode())
        self.versions.add(version)
        deadline = asyncio.get_running_loop().time() + timeout
        while (await self.rules_status())["version"] != version:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"rules {version} not in force after {timeout}s")
            await asyncio.sleep(0.2)
        return version


@pytest.fixture(scope="module")
async def router(infra: Endpoints, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[OwnRouter]:
    root = tmp_path_factory.mktemp("router-it")
    rules_file = root / "rules.yaml"
    base = own_rules(uuid.uuid4().hex)
    rules_file.write_text(base)
    services = Services(root, infra.env(), usual_ports=False)
    process = services.start("router", port=free_port(), extra_env={
        "SWITCHBOARD_ROUTER_RULES_FILE": str(rules_file),
        "SWITCHBOARD_ROUTER_RULES_RELOAD_SECONDS": "0.3",
    })
    try:
        await asyncio.to_thread(services.wait_ready, 90, ["router"])
        _, token = await employee_with_token(infra.database_url, department="client")
        async with TopicWatch(infra.bootstrap, ROUTED, REJECTED) as watch:
            own = OwnRouter(infra, process, rules_file, watch, token)
            await own.probe()
            yield own
    finally:
        services.stop_all()


@pytest.fixture
async def base_rules(router: OwnRouter) -> AsyncIterator[str]:
    """Each test starts, and leaves the router, with the module's base rules in force."""
    version = await router.use_rules(router.base)
    yield version
    await router.use_rules(router.base)


# --- the calls ------------------------------------------------------------------------------

COMPANY = ClientRef(client_id=uuid.uuid4(), name="Romashka LLC", segment=Segment.CORPORATE)
GIANT = ClientRef(client_id=uuid.uuid4(), name="Gazprom", segment=Segment.LARGE_CORPORATE)


def employee(name: str, **kw) -> EmployeeRef:
    return EmployeeRef(employee_id=uuid.uuid4(), name=name, department=Department.COMMERCIAL,
                       **kw)


def ringing(client: ClientRef | None = None, owner: EmployeeRef | None = None,
            head: EmployeeRef | None = None, shopping: bool = False) -> CallEnriched:
    now = datetime.now(UTC)
    return CallEnriched(
        event_id=uuid.uuid4(), occurred_at=now, call_id=f"router-it:{random_id()}",
        pbx="router-it", caller="+79161234567", caller_raw="+79161234567",
        caller_status=CallerStatus.EXTERNAL, dialed="+74951000000", started_at=now,
        client=client,
        ownership=Ownership(owner=owner, since=now - timedelta(days=56),
                            last_activity_at=now - timedelta(days=1)) if owner else None,
        owner_head=head, shopping_around=shopping,
        shopping_rules=[ShoppingRule.OTHER_THAN_OWNER] if shopping else [])


def verdict(category: Category = Category.COMMERCIAL, value: str | None = None,
            currency: str = "RUB", **kw) -> CallQualified:
    return CallQualified(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC),
        call_id=f"router-it:{random_id()}", category=category,
        deal_value=Decimal(value) if value else None, currency=currency if value else None,
        operator_id=uuid.uuid4(), **kw)


# --- the tests ------------------------------------------------------------------------------


async def test_ring_time_routing_end_to_end(router: OwnRouter, base_rules: str):
    owner, head = employee("Anna Ivanova"), employee("Oleg Petrov", role="head")
    on_leave = employee("Pavel Smirnov", on_leave=True)

    to_owner = await router.decide(ENRICHED, ringing(COMPANY, owner, head, shopping=True))
    assert to_owner["destination"] == "owner"
    assert to_owner["employee_id"] == str(owner.employee_id)
    assert to_owner["reasons"][0].startswith("Romashka LLC is owned by Anna Ivanova since ")
    assert "Anna Ivanova is on shift" in to_owner["reasons"][0]
    assert to_owner["shopping_around"] is True and "shopping around" in to_owner["reasons"][1]
    assert to_owner["rule_ids"] == ["ring.owner", "departments.commercial.hours",
                                    "ring.shopping_around"]
    assert (to_owner["stage"], to_owner["rules_version"]) == ("ring", base_rules)

    to_head = await router.decide(ENRICHED, ringing(COMPANY, on_leave, head))
    assert to_head["destination"] == "owner"  # the head covers for the owner
    assert to_head["employee_id"] == str(head.employee_id)
    assert "ring.head_of_department" in to_head["rule_ids"]
    assert "Pavel Smirnov is on leave: the call goes to Oleg Petrov" in to_head["reasons"][0]

    no_head = await router.decide(ENRICHED, ringing(COMPANY, on_leave))
    assert (no_head["destination"], no_head["employee_id"]) == ("commercial_department", None)
    assert "no head of the commercial department is known" in no_head["reasons"][0]

    giant = await router.decide(ENRICHED, ringing(GIANT))
    assert giant["destination"] == "commercial_department"
    assert giant["rule_ids"] == ["segments.large_corporate.ring"]

    unknown = await router.decide(ENRICHED, ringing())
    assert (unknown["destination"], unknown["client_id"]) == ("client_department", None)
    assert "unknown caller" in unknown["reasons"][0]


async def test_qualification_routing_end_to_end(router: OwnRouter, base_rules: str):
    spam = await router.decide(QUALIFIED, verdict(Category.SPAM, "9000000"))
    assert (spam["destination"], spam["employee_id"]) == ("non_commercial", None)

    medium_call = verdict(value="1200000", client_id=COMPANY.client_id,
                          client_name=COMPANY.name, segment=Segment.CORPORATE)
    medium = await router.decide(QUALIFIED, medium_call)
    assert medium["destination"] == "client_department"
    assert medium["employee_id"] == medium["operator_id"] == str(medium_call.operator_id)
    assert (medium["stage"], medium["category"], medium["size_class"]) == (
        "qualified", "commercial", "medium")
    assert (Decimal(medium["deal_value"]), medium["currency"], medium["segment"]) == (
        Decimal(1200000), "RUB", "corporate")
    assert medium["event_id"] == str(derive_event_id(medium_call.event_id, "routed"))
    assert medium["rules_version"] == base_rules

    large = await router.decide(QUALIFIED, verdict(value="40000", currency="USD"))
    assert (large["destination"], large["size_class"]) == ("commercial_department", "large")
    assert large["rule_ids"] == ["qualified.large_deal", "deal_size.USD"]

    corporate = await router.decide(QUALIFIED, verdict(value="1000", corporate=True,
                                                       company_size=CompanySize.LARGE))
    assert corporate["destination"] == "commercial_department"
    assert corporate["segment"] == "large_corporate"


async def test_an_invalid_verdict_is_rejected_and_the_next_is_routed(router: OwnRouter,
                                                                     base_rules: str):
    bad_id = f"router-it:{random_id()}"
    bad = json.loads(verdict().model_dump_json())
    bad.update(call_id=bad_id, category="maybe")
    good = verdict(Category.OPERATIONAL)
    await publish(router.infra.bootstrap, QUALIFIED, json.dumps(bad).encode())
    # (the desk, which shows verdicts, rejects it too: each consumer says what it refused)
    rejected = body((await router.watch.wait_for(
        lambda r: about(bad_id, REJECTED)(r) and body(r)["service"] == "router"))[0])
    assert rejected["service"] == "router" and rejected["source_topic"] == QUALIFIED
    assert rejected["where"].split(".")[-1] == "category"
    assert (await router.decide(QUALIFIED, good))["destination"] == "non_commercial"


async def test_a_rules_change_is_picked_up_without_a_restart(router: OwnRouter,
                                                             base_rules: str):
    before = await router.decide(QUALIFIED, verdict(value="2000000"))
    assert before["destination"] == "client_department"
    assert before["rules_version"] == base_rules

    lower = router.base.replace("large: 3_000_000", "large: 1_500_000")
    new_version = await router.use_rules(lower)

    after = await router.decide(QUALIFIED, verdict(value="2000000"))
    assert after["destination"] == "commercial_department"
    assert after["rules_version"] == new_version != base_rules
    assert "large from 1,500,000 RUB" in after["reasons"][0]
    assert router.process.process.poll() is None  # the same process


async def test_a_broken_rules_file_is_refused_while_routing_goes_on(router: OwnRouter,
                                                                    base_rules: str):
    broken = router.base.replace("large: 3_000_000", "large: three million")
    router.rules_file.write_text(broken)
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "three million" in text)
    deadline = asyncio.get_running_loop().time() + 30
    while (status := await router.rules_status())["refused"] is None:
        assert asyncio.get_running_loop().time() < deadline, "the broken file was not noticed"
        await asyncio.sleep(0.2)
    [problem] = status["refused"]["problems"]
    assert (problem["line"], problem["field"]) == (line, "deal_size.RUB.large")
    assert status["version"] == base_rules

    # routing goes on by the rules in force
    decision = await router.decide(QUALIFIED, verdict(value="5000000"))
    assert decision["destination"] == "commercial_department"
    assert decision["rules_version"] == base_rules
    # and the log names the line and the field
    log = router.process.log_path.read_text()
    assert f"line {line}, deal_size.RUB.large" in log
    assert f"the rules in force ({base_rules}) stay in force" in log
