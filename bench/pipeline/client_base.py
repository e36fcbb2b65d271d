"""What the pipeline runs against: a client base in the look-up's steady state, and routing
rules that make the result independent of the hour."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import yaml

from switchboard.infra import REPO_ROOT

GENERAL_LINE = "+74951000000"
CLIENTS = 400
OWNED_SHARE = 0.75  # three in four clients have an owner
HISTORY = 20  # earlier contacts and open leads per client: the look-up's steady state


@dataclass
class ClientBaseSeed:
    owned: list[str]
    unowned: list[str]


async def seed_client_base(url: str, tag: str, rng: random.Random) -> ClientBaseSeed:
    """400 clients, three in four owned by one of ten commercial negotiators, each with
    HISTORY earlier contacts and (when owned) HISTORY open leads, so the look-up returns what
    it returns in steady state from the first call on. Fresh ids and numbers every run."""
    conn = await asyncpg.connect(url)
    try:
        while True:  # a block of numbers no earlier run used
            block = f"{rng.randrange(10**4):04d}"
            prefix = f"+7917{block}"
            if not await conn.fetchval(
                    "SELECT 1 FROM client_phones WHERE phone LIKE $1 LIMIT 1", prefix + "%"):
                break
        now = datetime.now(UTC)
        employees = [uuid.uuid4() for _ in range(10)]
        segments_owned = ["individual", "small_business", "corporate", "large_corporate"]
        segments_unowned = ["individual", "small_business", "corporate"]  # desk, no lead
        clients, phones, owners, contacts, leads = [], [], [], [], []
        owned, unowned = [], []
        for i in range(CLIENTS):
            client_id = uuid.uuid4()
            phone = f"{prefix}{i:03d}"
            is_owned = i % 4 != 0
            segment = (segments_owned[i % 4] if is_owned else segments_unowned[i // 4 % 3])
            clients.append((client_id, f"bench-{tag}-{i}", f"Bench client {tag} {i}", segment))
            phones.append((phone, client_id))
            owner = employees[i % len(employees)]
            if is_owned:
                owners.append((client_id, owner, now - timedelta(days=20),
                               now - timedelta(days=1)))
                owned.append(phone)
            else:
                unowned.append(phone)
            for k in range(HISTORY):
                at = now - timedelta(days=10, minutes=k * 37 + i)
                contacts.append((f"bench:{tag}-hist-{i}-{k}", client_id, None, phone,
                                 GENERAL_LINE, at))
                if is_owned:
                    leads.append((uuid.uuid4(), f"bench:{tag}-lead-{i}-{k}", client_id, owner,
                                  "commercial", "owner", "open", at, at))
        async with conn.transaction():
            await conn.executemany(
                """INSERT INTO employees (employee_id, email, name, department, role, capacity)
                   VALUES ($1, $2, $3, 'commercial', 'agent', 1000000)""",
                [(e, f"{e.hex}@bench.example", f"Negotiator {e.hex[:6]}") for e in employees])
            await conn.executemany(
                "INSERT INTO clients (client_id, external_id, name, segment) "
                "VALUES ($1, $2, $3, $4)", clients)
            await conn.executemany(
                "INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)", phones)
            await conn.executemany(
                "INSERT INTO ownership (client_id, employee_id, since, last_activity_at) "
                "VALUES ($1, $2, $3, $4)", owners)
            await conn.copy_records_to_table(
                "contacts", records=contacts,
                columns=["call_id", "client_id", "employee_id", "caller", "dialed",
                         "occurred_at"])
            # published: the assignment's relay must not announce them again
            await conn.copy_records_to_table(
                "leads", records=leads,
                columns=["lead_id", "call_id", "client_id", "employee_id", "department",
                         "strategy", "status", "created_at", "published_at"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return ClientBaseSeed(owned, unowned)


def bench_rules(root: Path) -> Path:
    """deploy/rules.yaml with every department on shift around the clock: an owned client's
    call goes to its owner whatever the hour of the run."""
    rules = yaml.safe_load((REPO_ROOT / "deploy" / "rules.yaml").read_text())
    for department in (rules.get("departments") or {}).values():
        department["hours"] = {"mon-sun": "00:00-24:00"}
        department["closed"] = []
    path = root / "rules.yaml"
    path.write_text("# written by the pipeline benchmark (bench/pipeline): deploy/rules.yaml, "
                    "open 24/7\n" + yaml.safe_dump(rules, sort_keys=False))
    return path
