"""Helpers for the tests that talk to the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


def signed(connector: str, secret: str, payload: bytes, at: float | None = None
           ) -> dict[str, str]:
    """The headers of a webhook signed the Switchboard way."""
    from services.intake.signing import sign

    timestamp = str(int(at if at is not None else time.time()))
    return {"X-Switchboard-Connector": connector, "X-Switchboard-Timestamp": timestamp,
            "X-Switchboard-Signature": sign(secret, timestamp, payload)}


def query_rows(database_url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """The rows of one query, from synchronous test code (a CLI test, a fixture)."""
    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def random_phone() -> str:
    return "+7916" + "".join(random.choices("0123456789", k=7))


def random_id() -> str:
    return uuid.uuid4().hex[:12]


class TopicWatch:
    """Collects what is published to some topics from now on (all partitions, no group)."""

    def __init__(self, bootstrap: str, *topic_names: str) -> None:
        self.bootstrap = bootstrap
        self.topic_names = topic_names
        self.records: list[ConsumerRecord] = []

    async def __aenter__(self) -> TopicWatch:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        await self.consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topic_names
            for p in (self.consumer.partitions_for_topic(topic)
                      or await self._partitions(topic))
        ]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve "the end" now, before anything is published
            await self.consumer.position(tp)
        return self

    async def _partitions(self, topic: str) -> set[int]:
        await self.consumer._client.force_metadata_update()
        return self.consumer.partitions_for_topic(topic) or {0}

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=200)
        for records in batches.values():
            self.records.extend(records)

    async def wait_for(
        self, match: Callable[[ConsumerRecord], bool], count: int = 1, timeout: float = 60
    ) -> list[ConsumerRecord]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [r for r in self.records if match(r)]
            if len(found) >= count:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(found)} of {count} expected records after {timeout}s")
            await self.poll()

    async def settle(self, seconds: float) -> None:
        """Keep collecting for a while (to see that nothing more arrives)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            await self.poll()


def about(call_id: str, topic: str | None = None) -> Callable[[ConsumerRecord], bool]:
    def match(record: ConsumerRecord) -> bool:
        if topic and record.topic != topic:
            return False
        try:
            return json.loads(record.value).get("call_id") == call_id
        except ValueError:
            return False

    return match


def body(record: ConsumerRecord) -> dict:
    return json.loads(record.value)


async def publish(bootstrap: str, topic: str, *payloads: bytes, headers=None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait(topic, payload, headers=headers)
    finally:
        await producer.stop()


async def wait_committed(bootstrap: str, group: str, record: ConsumerRecord,
                         timeout: float = 60) -> None:
    """Until `group` has committed past `record`: it has been fully processed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    tp = TopicPartition(record.topic, record.partition)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            offsets = await admin.list_consumer_group_offsets(group)
            meta = offsets.get(tp)
            if meta is not None and meta.offset > record.offset:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{group} did not commit past {tp}@{record.offset}")
            await asyncio.sleep(0.3)
    finally:
        await admin.close()


@dataclass(frozen=True)
class SeededClient:
    client_id: uuid.UUID
    phone: str
    owner_id: uuid.UUID | None
    owner_name: str | None


async def seed_employee(conn: asyncpg.Connection, *, department: str = "commercial",
                        role: str = "agent", name: str | None = None,
                        employee_id: uuid.UUID | None = None, email: str | None = None,
                        domain: str = "test.example", capacity: int | None = None,
                        on_leave: bool = False, extension: str | None = None,
                        number: str | None = None) -> uuid.UUID:
    """One employee in the client base (the only place tests write employees)."""
    employee_id = employee_id or uuid.uuid4()
    await conn.execute(
        """INSERT INTO employees (employee_id, email, name, department, role, capacity, on_leave,
                                  extension, direct_number)
           VALUES ($1, $2, $3, $4, $5, coalesce($6, 10), $7, $8, $9)""",
        employee_id, email or f"{employee_id.hex}@{domain}",
        name or f"Agent {employee_id.hex[:6]}", department, role, capacity,
        on_leave, extension, number,
    )
    return employee_id


async def employee_with_line(url: str, **kw) -> tuple[uuid.UUID, str]:
    """An employee and their extension (random, so tests do not collide)."""
    conn = await asyncpg.connect(url)
    try:
        employee_id = await seed_employee(conn, **kw)
        extension = str(uuid.uuid4().int % 900000 + 100000)
        await conn.execute("UPDATE employees SET extension = $2 WHERE employee_id = $1",
                           employee_id, extension)
        return employee_id, extension
    finally:
        await conn.close()


async def seed_client(url: str, *, owned: bool, segment: str = "corporate",
                      last_activity_days: int = 1) -> SeededClient:
    conn = await asyncpg.connect(url)
    try:
        client_id, phone = uuid.uuid4(), random_phone()
        await conn.execute(
            "INSERT INTO clients (client_id, name, segment) VALUES ($1, $2, $3)",
            client_id, f"Client {client_id.hex[:6]}", segment,
        )
        await conn.execute("INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)",
                           phone, client_id)
        owner_id = owner_name = None
        if owned:
            owner_name = f"Owner {client_id.hex[:6]}"
            owner_id = await seed_employee(conn, name=owner_name)
            now = datetime.now(UTC)
            await conn.execute(
                """INSERT INTO ownership (client_id, employee_id, since, last_activity_at)
                   VALUES ($1, $2, $3, $4)""",
                client_id, owner_id, now - timedelta(days=60),
                now - timedelta(days=last_activity_days),
            )
        return SeededClient(client_id, phone, owner_id, owner_name)
    finally:
        await conn.close()


def generic_call(caller: str | None, *, dialed: str = "+74951000000",
                 call_id: str | None = None, pbx: str = "test-pbx") -> tuple[str, bytes]:
    """(pipeline call id, payload) of a `generic` PBX event."""
    call_id = call_id or random_id()
    payload = {"pbx": pbx, "call_id": call_id, "caller": caller, "dialed": dialed,
               "started_at": datetime.now(UTC).isoformat()}
    return f"{pbx}:{call_id}", json.dumps(payload).encode()


async def api_token(conn: asyncpg.Connection, *, employee_id: uuid.UUID | None = None,
                    integration: str | None = None, scopes: tuple[str, ...] = (),
                    expires_at: datetime | None = None, revoked: bool = False) -> str:
    """A bearer token of the services' APIs, stored as its hash as `switchboard token` does:
    an employee's, or a new integration's (named `integration`) with these scopes."""
    from shared.access.credentials import INTEGRATION_TOKEN, PERSON_TOKEN, new_token, token_hash

    integration_id = None
    if integration is not None:
        integration_id = uuid.uuid4()
        await conn.execute("INSERT INTO integrations (integration_id, name) VALUES ($1, $2)",
                           integration_id, integration)
    token = new_token(PERSON_TOKEN if integration is None else INTEGRATION_TOKEN)
    await conn.execute(
        """INSERT INTO api_tokens (token_hash, employee_id, integration_id, scopes, expires_at,
                                   revoked_at)
           VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END)""",
        token_hash(token), employee_id, integration_id,
        list(scopes) if integration is not None else None, expires_at, revoked)
    return token


async def employee_with_token(url: str, **kw) -> tuple[uuid.UUID, str]:
    """An employee (`seed_employee`'s arguments) and a bearer token of theirs."""
    conn = await asyncpg.connect(url)
    try:
        employee_id = await seed_employee(conn, **kw)
        return employee_id, await api_token(conn, employee_id=employee_id)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def desk_and_assignment_of_our_own(services, infra, root, domain: str, *,
                                         deadline_seconds: float, poll_seconds: float
                                         ) -> AsyncIterator[Any]:
    """A desk and an assignment replica of a test module's own, beside the session's intake
    and lookup, instead of the session's assignment (`instead_of_the_session_assignment`): the
    inbox's deadline as given, no keeping at once, no low-volume rule. Yields their
    `Services`."""
    from switchboard.devstack import Services

    async with instead_of_the_session_assignment(services, infra.database_url, domain):
        mine = Services(root, infra.env(), usual_ports=False)
        try:
            mine.start("assignment", extra_env={
                "SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS": str(deadline_seconds),
                "SWITCHBOARD_ASSIGNMENT_DEADLINE_POLL_SECONDS": str(poll_seconds),
                "SWITCHBOARD_ASSIGNMENT_RETRY_SECONDS": "1",
                "SWITCHBOARD_ASSIGNMENT_LOW_VOLUME_PER_HOUR": "0",
                "SWITCHBOARD_ASSIGNMENT_KEEP_MODE": "off",
            })
            await asyncio.to_thread(mine.wait_ready, 90, ["assignment"])
            # The assignment's address comes from devstack.PEERS, the lookup's from the session.
            mine.start("desk", extra_env={
                "SWITCHBOARD_DESK_LOOKUP_URL": services.running["lookup"].url,
                "SWITCHBOARD_DESK_SESSION_CHECK_SECONDS": "1",
            })
            await asyncio.to_thread(mine.wait_ready, 90, ["desk"])
            yield mine
        finally:
            await asyncio.to_thread(mine.stop_all)


@contextlib.asynccontextmanager
async def instead_of_the_session_assignment(services, database_url: str, domain: str
                                            ) -> AsyncIterator[None]:
    """While a fixture runs assignment replicas of its own (its own head of sales, deadline or
    keep rules): the session's replica is stopped; afterwards the fixture's staff (e-mails
    @`domain`) are retired and the session's replica is back."""
    replica = services.running.get("assignment")
    if replica is not None:
        await asyncio.to_thread(replica.stop)
    try:
        yield
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE employees SET active = false WHERE email LIKE $1",
                               f"%@{domain}")
        finally:
            await conn.close()
        if replica is not None:
            services.start("assignment", replica.port)
            await asyncio.to_thread(services.wait_ready, 90, ["assignment"])
