"""The demo: a small company's client base, a stream of simulated calls, and a live view of
the decisions."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console

from shared import topics
from shared.events import CallRouted, LeadAssigned, derive_event_id

GENERAL_LINE = "+74951000000"


def demo_id(kind: str, key: str) -> uuid.UUID:
    return derive_event_id("demo", kind, key)


# email, name, department, role, extension, direct number
EMPLOYEES = [
    ("head@demo.example", "Olga Sokolova", "commercial", "head", "100", "+74951000100"),
    ("ivanova@demo.example", "Anna Ivanova", "commercial", "agent", "101", "+74951000101"),
    ("petrov@demo.example", "Pavel Petrov", "commercial", "agent", "102", "+74951000102"),
    ("smirnova@demo.example", "Elena Smirnova", "client", "head", "200", "+74951000200"),
    ("kuznetsov@demo.example", "Ivan Kuznetsov", "client", "agent", "201", "+74951000201"),
    ("popova@demo.example", "Maria Popova", "client", "agent", "202", "+74951000202"),
]

# external id, name, segment, phones, owner email (or None)
CLIENTS = [
    ("C-001", "Romashka LLC", "corporate", ["+79161110001", "+74953330001"], "ivanova@demo.example"),
    ("C-002", "Vasily Orlov", "individual", ["+79161110002"], "kuznetsov@demo.example"),
    ("C-003", "Gazstroy JSC", "large_corporate", ["+74957770003"], "petrov@demo.example"),
    ("C-004", "Bakery Lyudmila", "small_business", ["+79161110004"], None),
    ("C-005", "Nord Logistics", "large_corporate", ["+74958880005"], None),
    ("C-006", "Irina Belova", "individual", ["+79161110006"], "popova@demo.example"),
]


async def load_demo_base(url: str, now: datetime) -> int:
    """Upserts the demo employees, clients, numbers and owners; returns the client count."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for email, name, department, role, ext, direct in EMPLOYEES:
                await conn.execute(
                    """INSERT INTO employees (employee_id, email, name, department, role,
                                              extension, direct_number, capacity)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, 10)
                       ON CONFLICT (email) DO UPDATE SET name = excluded.name""",
                    demo_id("employee", email), email, name, department, role, ext, direct,
                )
            for external_id, name, segment, phones, owner in CLIENTS:
                client_id = demo_id("client", external_id)
                await conn.execute(
                    """INSERT INTO clients (client_id, external_id, name, segment)
                       VALUES ($1, $2, $3, $4) ON CONFLICT (external_id) DO NOTHING""",
                    client_id, external_id, name, segment,
                )
                for phone in phones:
                    await conn.execute(
                        """INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)
                           ON CONFLICT (phone) DO NOTHING""",
                        phone, client_id,
                    )
                if owner:
                    await conn.execute(
                        """INSERT INTO ownership (client_id, employee_id, since, last_activity_at)
                           VALUES ($1, $2, $3, $4) ON CONFLICT (client_id) DO UPDATE
                           SET last_activity_at = excluded.last_activity_at""",
                        client_id, demo_id("employee", owner), now - timedelta(days=40),
                        now - timedelta(days=2),
                    )
    finally:
        await conn.close()
    return len(CLIENTS)


def simulated_call(rng: random.Random, n: int, now: datetime) -> dict:
    """A generic PBX event: mostly known clients, some strangers, a few withheld numbers."""
    roll = rng.random()
    if roll < 0.55:
        caller = rng.choice([p for c in CLIENTS for p in c[3]])
        caller = "8" + caller[2:] if caller.startswith("+7") and rng.random() < 0.5 else caller
    elif roll < 0.9:
        caller = f"+7 916 {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"
    else:
        caller = rng.choice(["anonymous", "", "Restricted"])
    dialed = rng.choice([GENERAL_LINE, GENERAL_LINE, "101", "201"])
    return {
        "pbx": "demo-pbx",
        "call_id": f"{now:%H%M%S}-{n}",
        "caller": caller,
        "dialed": dialed,
        "started_at": now.isoformat(),
    }


async def feed_calls(bootstrap: str, interval: float, stop: asyncio.Event, seed: int = 7) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    rng = random.Random(seed)
    try:
        n = 0
        while not stop.is_set():
            n += 1
            event = simulated_call(rng, n, datetime.now(UTC))
            await producer.send_and_wait(
                topics.PBX_EVENTS.name, json.dumps(event).encode(), key=event["call_id"].encode()
            )
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
    finally:
        await producer.stop()


@dataclass
class DecisionView:
    """Prints each decision as it happens: caller, known or not, owner, destination, assignee."""

    console: Console

    def routed(self, event: CallRouted) -> None:
        known = f"[green]{event.client_name}[/]" if event.client_name else "[yellow]unknown[/]"
        who = f" → [bold]{event.employee_name}[/]" if event.employee_name else ""
        self.console.print(
            f"{event.occurred_at:%H:%M:%S} [cyan]{event.call_id}[/] "
            f"caller {event.caller or '(none)'} · {known} · "
            f"[magenta]{event.destination.value}[/]{who} — {event.reasons[0]}"
        )

    def assigned(self, event: LeadAssigned) -> None:
        self.console.print(
            f"{event.occurred_at:%H:%M:%S} [cyan]{event.call_id}[/] "
            f"lead assigned to [bold]{event.employee_name}[/] ({event.strategy.value})"
        )


async def watch_decisions(bootstrap: str, view: DecisionView, stop: asyncio.Event,
                          on_event: Callable[[], None] | None = None) -> None:
    consumer = AIOKafkaConsumer(
        topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name,
        bootstrap_servers=bootstrap, auto_offset_reset="latest", enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.topic == topics.CALLS_ROUTED.name:
                        view.routed(CallRouted.model_validate_json(record.value))
                    else:
                        view.assigned(LeadAssigned.model_validate_json(record.value))
                    if on_event:
                        on_event()
    finally:
        await consumer.stop()


async def run_demo(bootstrap: str, database_url: str, interval: float, console: Console) -> None:
    """Load the demo client base, then feed calls and show the decisions until cancelled."""
    count = await load_demo_base(database_url, datetime.now(UTC))
    console.print(f"demo client base loaded: {count} clients, both departments; feeding calls")
    stop = asyncio.Event()
    try:
        await asyncio.gather(
            feed_calls(bootstrap, interval, stop),
            watch_decisions(bootstrap, DecisionView(console), stop),
        )
    finally:
        stop.set()
