"""`switchboard replay` on a stream recorded in the real broker: the candidate rules change a
known number of decisions, and the report says exactly that number.

Other tests publish to the same topics at the same time; this one's calls share a call-id
prefix of their own, and the replay is told to look at those only (`--call-id-prefix`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared import topics
from shared.events import (CallEnriched, CallerStatus, CallQualified, Category, ClientRef,
                           Department, EmployeeRef, Ownership, Segment)
from tests.conftest import REPO, Endpoints
from tests.support import publish, random_id

pytestmark = pytest.mark.integration

ENRICHED, QUALIFIED = topics.CALLS_ENRICHED.name, topics.CALLS_QUALIFIED.name
DEFAULT_RULES = (REPO / "deploy" / "rules.yaml").read_text()
SWITCHBOARD = Path(sys.executable).with_name("switchboard")
# Friday 2026-11-27, 20:00 and 13:00 in Moscow
EVENING, MIDDAY = datetime(2026, 11, 27, 17, tzinfo=UTC), datetime(2026, 11, 27, 10, tzinfo=UTC)


def candidate_rules() -> str:
    """Large rouble deals from 2M instead of 3M; sales work until 21:00 instead of 19:00."""
    changed = DEFAULT_RULES.replace("large: 3_000_000", "large: 2_000_000").replace(
        'mon-fri: "09:00-19:00"', 'mon-fri: "09:00-21:00"')
    assert changed.count("2_000_000") == 1 and '"09:00-21:00"' in changed
    return changed


HEAD = EmployeeRef(employee_id=uuid.uuid4(), name="Oleg Petrov",
                   department=Department.COMMERCIAL, role="head")


def ringing(call_id: str, at: datetime, owner: EmployeeRef | None = None) -> CallEnriched:
    client = ClientRef(client_id=uuid.uuid4(), name="Romashka LLC", segment=Segment.CORPORATE)
    return CallEnriched(
        event_id=uuid.uuid4(), occurred_at=at, call_id=call_id, pbx="replay-it",
        caller="+79161234567", caller_raw="+79161234567", caller_status=CallerStatus.EXTERNAL,
        dialed="+74951000000", started_at=at, client=client,
        ownership=Ownership(owner=owner, since=at - timedelta(days=30), last_activity_at=at)
        if owner else None, owner_head=HEAD if owner else None)


def verdict(call_id: str, value: str, category: Category = Category.COMMERCIAL
            ) -> CallQualified:
    return CallQualified(event_id=uuid.uuid4(), occurred_at=MIDDAY, call_id=call_id,
                         category=category, deal_value=Decimal(value), currency="RUB",
                         operator_id=uuid.uuid4())


def recorded_calls(prefix: str) -> tuple[list[CallEnriched | CallQualified], int]:
    """The stream, and how many of its decisions the candidate rules change."""
    owner = EmployeeRef(employee_id=uuid.uuid4(), name="Anna Ivanova",
                        department=Department.COMMERCIAL)
    unchanged = [
        verdict(f"{prefix}small", "100000"),
        verdict(f"{prefix}large", "5000000"),
        verdict(f"{prefix}spam", "2500000", Category.SPAM),
        ringing(f"{prefix}midday", MIDDAY, owner),
        ringing(f"{prefix}unowned", EVENING),
        ringing(f"{prefix}late", EVENING + timedelta(hours=2), owner),  # 22:00: off either way
    ]
    changed = [
        verdict(f"{prefix}medium-{n}", value) for n, value in
        enumerate(["2000000", "2500000", "2999999"])
    ] + [ringing(f"{prefix}evening-{n}", EVENING + timedelta(minutes=10 * n), owner)
         for n in range(4)]
    return unchanged + changed, len(changed)


def without_router_rules(env: dict[str, str]) -> dict[str, str]:
    """The environment without a rules file of its own: the live rules are the default."""
    return {k: v for k, v in env.items() if k.upper() != "SWITCHBOARD_ROUTER_RULES_FILE"}


async def run_replay(infra: Endpoints, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(SWITCHBOARD), "replay", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**without_router_rules(os.environ), **infra.env(), "COLUMNS": "250"}, cwd=REPO)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, out.decode(), err.decode()


async def consumer_groups(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {group[0] for group in await admin.list_consumer_groups()}
    finally:
        await admin.close()


async def test_replay_reports_exactly_the_decisions_the_candidate_changes(
        infra: Endpoints, tmp_path: Path):
    # Given a recorded stream of calls, one of them delivered twice
    prefix = f"replay-it-{random_id()}:"
    calls, expected_changes = recorded_calls(prefix)
    since = datetime.now(UTC) - timedelta(seconds=5)
    for call in calls:
        topic = ENRICHED if isinstance(call, CallEnriched) else QUALIFIED
        await publish(infra.bootstrap, topic, call.model_dump_json().encode())
    await publish(infra.bootstrap, QUALIFIED, calls[0].model_dump_json().encode())
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(candidate_rules())
    groups_before = await consumer_groups(infra.bootstrap)

    # When the candidate rules are replayed against the live ones (the default file)
    code, out, err = await run_replay(
        infra, "--rules", str(candidate), "--since", since.isoformat(), "--json",
        "--call-id-prefix", prefix)

    # Then the report says exactly how many decisions would change, and where they go
    assert code == 0, err
    report = json.loads(out)
    assert report["decisions"] == len(calls)
    assert report["duplicates_skipped"] == 1
    assert report["changed_decisions"] == report["changed_calls"] == expected_changes == 7
    moves = {(m["stage"], m["from"], m["to"]): m["count"] for m in report["moves"]}
    assert moves == {("qualified", "client_department", "commercial_department"): 3,
                     ("ring", "owner_head", "owner"): 4}
    example = report["moves"][0]["examples"][0]
    assert example["call_id"].startswith(prefix)
    assert example["live"]["reasons"] and example["candidate"]["reasons"]
    assert report["live_rules"]["file"] == "deploy/rules.yaml"
    # and the replay joined no consumer group (nothing committed, nobody rebalanced)
    assert await consumer_groups(infra.bootstrap) - groups_before == set()

    # The same for people
    code, out, err = await run_replay(
        infra, "--rules", str(candidate), "--since", since.isoformat(),
        "--call-id-prefix", prefix, "--examples", "1")
    assert code == 0, err
    assert f"Replayed {len(calls)} decisions on {len(calls)} calls" in out
    assert "7 decisions (7 calls) would go elsewhere" in out
    assert "commercial_department" in out and "owner" in out


async def test_replay_refuses_a_broken_candidate(infra: Endpoints, tmp_path: Path):
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(DEFAULT_RULES.replace("time_zone: Europe/Moscow",
                                               "time_zone: Mars/Olympus", 1))
    code, _, err = await run_replay(infra, "--rules", str(candidate))
    assert code == 2
    assert "departments.client.time_zone" in err and "line " in err
