"""Crash tests: a stream of calls, and `kill -9` of each service, of the Kafka broker, and a
restart of PostgreSQL mid-stream. After each: every call fed in has exactly one final decision,
every call qualified on the owner's card made the owner's lead or joined the client's open one,
no client has two open leads of one employee, no lead is assigned twice, no client has two
owners, and the order per client is kept.

    make test-faults                 # SWITCHBOARD_FAULT_CALLS=20000 by default

Each scenario prints: calls in, decisions out, duplicates, losses, and the drain time against
the run without faults.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from shared import topics
from shared.events import CallQualified, Category, derive_event_id
from switchboard.devstack import SERVICES, Infrastructure, Services
from tests.conftest import RULES_ALWAYS_OPEN
from tests.support import seed_employee

pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
CALLS = int(os.environ.get("SWITCHBOARD_FAULT_CALLS", "20000"))
RATE = float(os.environ.get("SWITCHBOARD_FAULT_RATE", "400"))  # calls fed per second
CLIENTS = 400
QUALIFY_EVERY = 3  # one in three calls that rang for the owner is qualified commercial
DRAIN_TIMEOUT = float(os.environ.get("SWITCHBOARD_FAULT_DRAIN_TIMEOUT", "900"))
BASELINE: dict[str, float] = {}


@dataclass
class Stack:
    infra: Infrastructure
    services: Services

    async def kill_service(self, name: str) -> None:
        self.services.running[name].kill()
        await asyncio.sleep(0.5)
        port = self.services.running[name].port
        self.services.start(name, port)
        await asyncio.to_thread(self.services.wait_ready, 120, [name])

    async def kill_broker(self) -> None:
        assert self.infra.kafka is not None
        self.infra.kafka.kill()
        await asyncio.sleep(2)
        await asyncio.to_thread(self.infra.kafka.start)

    async def restart_database(self) -> None:
        assert self.infra.postgres is not None
        await asyncio.to_thread(self.infra.postgres.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(self.infra.postgres.start)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """A broker and a database of its own (it kills them), and the four services."""
    root = Path(os.environ.get("SWITCHBOARD_FAULT_ROOT") or REPO / ".switchboard" / "faults")
    infra = Infrastructure(root, partitions=6, fast=True)
    infra.start(log=print)
    logs = root / "services"  # kept after the run, for a post-mortem
    shutil.rmtree(logs, ignore_errors=True)
    # Owners always on shift: an owned client's call rings for the owner at any hour.
    services = Services(logs, {**infra.env(), "SWITCHBOARD_ROUTER_RULES_FILE":
                               str(RULES_ALWAYS_OPEN)}, usual_ports=False)
    try:
        services.start_all()
        yield Stack(infra, services)
    finally:
        services.stop_all()
        infra.stop()


@dataclass
class Run:
    """One stream of calls from `CLIENTS` clients, most of them owned."""

    pbx: str = field(default_factory=lambda: f"fault-{uuid.uuid4().hex[:8]}")
    phones: list[str] = field(default_factory=list)
    qualified: set[str] = field(default_factory=set)  # calls whose qualification Kafka has
    qualifying_done: bool = False

    def call_id(self, seq: int) -> str:
        return f"{self.pbx}:{seq:06d}"

    async def seed(self, url: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            now = datetime.now(UTC)
            employees = [await seed_employee(conn, domain="faults.example", capacity=100000)
                         for _ in range(10)]
            block = random.randrange(10**4)
            for i in range(CLIENTS):
                client_id = uuid.uuid4()
                phone = f"+7917{block:04d}{i:03d}"
                self.phones.append(phone)
                await conn.execute(
                    "INSERT INTO clients (client_id, name, segment) VALUES ($1, $2, 'corporate')",
                    client_id, f"Fault client {i}")
                await conn.execute(
                    "INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)",
                    phone, client_id)
                if i % 4:  # three in four are owned: their calls ring for the owner
                    await conn.execute(
                        """INSERT INTO ownership (client_id, employee_id, since, last_activity_at)
                           VALUES ($1, $2, $3, $3)""",
                        client_id, employees[i % len(employees)], now - timedelta(days=1))
        finally:
            await conn.close()

    def event(self, seq: int) -> tuple[bytes, bytes]:
        phone = self.phones[seq % len(self.phones)]
        payload = {"pbx": self.pbx, "call_id": f"{seq:06d}", "caller": phone,
                   "dialed": "+74951000000", "started_at": datetime.now(UTC).isoformat()}
        return phone.encode(), json.dumps(payload).encode()

    async def feed(self, bootstrap: str) -> None:
        """All calls at RATE per second, riding out a broker that is away."""
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                    enable_idempotence=True, request_timeout_ms=60000)
        await producer.start()
        try:
            start = time.monotonic()
            for seq in range(CALLS):
                key, value = self.event(seq)
                await producer.send(topics.PBX_EVENTS.name, value, key=key)
                ahead = seq / RATE - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await producer.flush()
        finally:
            await producer.stop()

    async def qualify(self, bootstrap: str, url: str) -> None:
        """As the owners answer: one in QUALIFY_EVERY calls that rang for the owner is marked
        commercial on the owner's card (after its ring decision is recorded, as a person
        answers after the phone rang), until every call fed in is decided. Rides out a broker
        or a database that is away."""
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                    enable_idempotence=True, request_timeout_ms=60000)
        await producer.start()
        try:
            while True:
                try:
                    rang, all_decided = await self._rang_for_owner(url)
                except (OSError, asyncpg.PostgresError):
                    await asyncio.sleep(1)
                    continue
                due = {call_id: row for call_id, row in rang.items()
                       if call_id not in self.qualified
                       and int(call_id.rsplit(":", 1)[1]) % QUALIFY_EVERY == 0}
                try:
                    sent = [await producer.send(
                        topics.CALLS_QUALIFIED.name,
                        self._qualification(call_id, client_id, owner_id),
                        key=str(client_id).encode())
                        for call_id, (client_id, owner_id) in due.items()]
                    await asyncio.gather(*sent)  # acknowledged, or raises
                except KafkaError:
                    await asyncio.sleep(1)  # sent again: the same verdict, decided once
                    continue
                self.qualified |= set(due)
                if all_decided and not due:
                    return
                await asyncio.sleep(1)
        finally:
            self.qualifying_done = True
            await producer.stop()

    async def _rang_for_owner(self, url: str) -> tuple[dict[str, tuple], bool]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT call_id, client_id, employee_id, destination FROM call_decisions "
                "WHERE call_id LIKE $1 AND stage = 'ring'", f"{self.pbx}:%")
        finally:
            await conn.close()
        return ({r["call_id"]: (r["client_id"], r["employee_id"]) for r in rows
                 if r["destination"] == "owner"}, len(rows) >= CALLS)

    def _qualification(self, call_id: str, client_id: uuid.UUID, owner_id: uuid.UUID) -> bytes:
        seq = int(call_id.rsplit(":", 1)[1])
        return CallQualified(
            event_id=derive_event_id(call_id, "qualified"), occurred_at=datetime.now(UTC),
            call_id=call_id, category=Category.COMMERCIAL, deal_value=90_000 + seq,
            currency="RUB", operator_id=owner_id, caller=self.phones[seq % len(self.phones)],
            client_id=client_id).model_dump_json().encode()

    async def decided(self, url: str, stage: str = "ring") -> int:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(
                "SELECT count(*) FROM call_decisions WHERE call_id LIKE $1 AND stage = $2",
                f"{self.pbx}:%", stage)
        finally:
            await conn.close()


async def wait_for_database(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(url)
            await conn.close()
            return
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def drain(run: Run, url: str, started: float) -> float:
    """Until every call fed in is decided, and every qualification sent is decided too."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        try:
            done = await run.decided(url)
            qualified = await run.decided(url, "qualified")
        except (OSError, asyncpg.PostgresError):
            done = qualified = -1  # the database is being restarted
        if done >= CALLS and run.qualifying_done and qualified >= len(run.qualified):
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise AssertionError(f"only {done} of {CALLS} calls and {qualified} of "
                                 f"{len(run.qualified)} qualifications decided after "
                                 f"{DRAIN_TIMEOUT}s")
        await asyncio.sleep(1)


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)
                      or await _partitions(consumer, topic)]
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def read_from(bootstrap: str, starts: dict[TopicPartition, int]) -> list:
    """Every record after `starts`, up to the current end of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(starts))
        ends = await consumer.end_offsets(list(starts))
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        records = []
        while [tp for tp in starts if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def verify(run: Run, stack: Stack, routed_from: dict, assigned_from: dict) -> dict:
    url, bootstrap = stack.infra.database_url, stack.infra.bootstrap
    conn = await asyncpg.connect(url)
    try:
        decisions = await conn.fetch(
            "SELECT call_id, count(*) AS n FROM call_decisions WHERE call_id LIKE $1 "
            "AND stage = 'ring' GROUP BY call_id", f"{run.pbx}:%")
        leads = await conn.fetch(
            "SELECT lead_id, call_id, employee_id FROM leads WHERE call_id LIKE $1",
            f"{run.pbx}:%")
        joined = await conn.fetch(
            "SELECT call_id FROM lead_calls WHERE call_id LIKE $1", f"{run.pbx}:%")
        qualified = await conn.fetch(
            "SELECT call_id, count(*) AS n FROM call_decisions WHERE call_id LIKE $1 "
            "AND stage = 'qualified' GROUP BY call_id", f"{run.pbx}:%")
        two_open_leads = await conn.fetchval(
            "SELECT count(*) FROM (SELECT client_id, employee_id FROM leads "
            "WHERE call_id LIKE $1 AND status = 'open' GROUP BY client_id, employee_id "
            "HAVING count(*) > 1) x", f"{run.pbx}:%")
        two_owners = await conn.fetchval(
            "SELECT count(*) FROM (SELECT client_id FROM ownership GROUP BY client_id "
            "HAVING count(*) > 1) x")
    finally:
        await conn.close()
    routed = [r for r in await read_from(bootstrap, routed_from)
              if json.loads(r.value)["call_id"].startswith(f"{run.pbx}:")]
    assigned = [json.loads(r.value) for r in await read_from(bootstrap, assigned_from)]
    assigned = [a for a in assigned if a["call_id"].startswith(f"{run.pbx}:")]

    decided = {r["call_id"] for r in decisions}
    expected = {run.call_id(seq) for seq in range(CALLS)}
    lead_owners: dict[str, set[str]] = defaultdict(set)
    for a in assigned:
        lead_owners[a["lead_id"]].add(a["employee_id"])
    # Order per client: the first decision of each call, per client, in feeding order.
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen = set()
    for r in sorted(routed, key=lambda r: (r.partition, r.offset)):
        event = json.loads(r.value)
        if event["call_id"] in seen:
            continue
        seen.add(event["call_id"])
        first_seen[event["client_id"] or event["caller"]].append(
            int(event["call_id"].rsplit(":", 1)[1]))
    out_of_order = sum(1 for seqs in first_seen.values() if seqs != sorted(seqs))
    making = [r["call_id"] for r in leads] + [r["call_id"] for r in joined]
    return {
        "calls in": CALLS,
        "decisions out": len(decided),
        "losses": len(expected - decided),
        "duplicate decisions": sum(1 for r in decisions if r["n"] > 1),
        "qualified": len(run.qualified),
        "qualifications lost": len(run.qualified - {r["call_id"] for r in qualified}),
        "qualified calls without a lead": len(run.qualified - set(making)),
        "calls in two leads": len(making) - len(set(making)),
        "leads": len(leads),
        "joined calls": len(joined),
        "clients with two open leads of one employee": two_open_leads,
        "leads assigned twice": sum(1 for owners in lead_owners.values() if len(owners) > 1),
        "duplicate announcements": len(assigned) - len(lead_owners),
        "clients with two owners": two_owners,
        "clients out of order": out_of_order,
    }


Fault = Callable[[Stack], Awaitable[None]]


async def kill_each_service(stack: Stack) -> None:
    for round_ in range(2):
        for name in SERVICES:
            await asyncio.sleep(3)
            print(f"  kill -9 {name} (round {round_ + 1})")
            await stack.kill_service(name)


async def kill_broker(stack: Stack) -> None:
    await asyncio.sleep(8)
    print("  kill -9 the Kafka broker")
    await stack.kill_broker()


async def restart_database(stack: Stack) -> None:
    await asyncio.sleep(8)
    print("  restart PostgreSQL")
    await stack.restart_database()


async def no_fault(stack: Stack) -> None:
    return None


async def scenario(stack: Stack, name: str, fault: Fault) -> dict:
    run = Run()
    await run.seed(stack.infra.database_url)
    bootstrap = stack.infra.bootstrap
    routed_from = await end_offsets(bootstrap, topics.CALLS_ROUTED.name)
    assigned_from = await end_offsets(bootstrap, topics.LEADS_ASSIGNED.name)
    print(f"\n[{name}] feeding {CALLS} calls at {RATE:.0f}/s")
    started = time.monotonic()
    qualifying = asyncio.create_task(run.qualify(bootstrap, stack.infra.database_url))
    await asyncio.gather(run.feed(bootstrap), fault(stack))
    await wait_for_database(stack.infra.database_url)
    drained = await drain(run, stack.infra.database_url, started)
    await qualifying
    result = await verify(run, stack, routed_from, assigned_from)
    BASELINE.setdefault(name, drained)
    base = BASELINE.get("no faults")
    versus = f" ({drained / base:.2f}x the run without faults)" if base else ""
    result["drain seconds"] = round(drained, 1)
    print(f"[{name}] drained in {drained:.1f}s{versus}")
    print(f"[{name}] " + ", ".join(f"{k}: {v}" for k, v in result.items()))
    return result


def assert_clean(result: dict) -> None:
    assert result["decisions out"] == result["calls in"]
    assert result["qualified"] > 0
    for bad in ("losses", "duplicate decisions", "qualifications lost",
                "qualified calls without a lead", "calls in two leads",
                "clients with two open leads of one employee", "leads assigned twice",
                "clients with two owners", "clients out of order"):
        assert result[bad] == 0, f"{bad}: {result[bad]}"


async def test_no_faults_baseline(stack: Stack):
    assert_clean(await scenario(stack, "no faults", no_fault))


async def test_kill_each_service_in_turn(stack: Stack):
    assert_clean(await scenario(stack, "kill -9 each service, twice", kill_each_service))


async def test_kill_the_broker(stack: Stack):
    assert_clean(await scenario(stack, "kill -9 the broker", kill_broker))


async def test_restart_the_database(stack: Stack):
    assert_clean(await scenario(stack, "restart PostgreSQL", restart_database))
