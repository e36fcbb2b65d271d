"""The assignment service on the real broker and database: the head's inbox and its deadline,
the API and its tokens, two replicas at once, redeliveries, outcomes and ownership.

Two assignment replicas run for this module, with a short deadline; while they run, the
session's own assignment replica (the e2e `services`) is stopped, so every `calls.routed`
event of these tests is handled under the same settings, and it is started again after.

The database is shared with the other tests, so distribution may pick among everyone's
negotiators: the tests give their own negotiators records that make the choice certain
(others have no outcomes, so they rank at the department's average), and deactivate them at
the end, so they never compete with a later run's.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
import typer
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from services.assignment.policy import lead_id_for
from shared import topics
from shared.access.credentials import new_token, token_hash
from shared.events import (CallRouted, Category, DealClosed, Destination, Segment, SizeClass,
                           Stage)
from shared.kafka import group_id
from switchboard.devstack import ServiceProcess, Services
from switchboard.token import token_command
from tests.conftest import Endpoints
from tests.support import (TopicWatch, about, body, instead_of_the_session_assignment, random_id,
                           seed_client, seed_employee, wait_committed)

pytestmark = pytest.mark.integration

DOMAIN = "assignment-it.example"  # the e-mails of this module's employees
DEADLINE = 4.0  # seconds the head has to act on an inbox lead in these tests
KEEP_FROM = 50_000_000  # RUB: the head keeps such leads at once
ROUTED, ASSIGNED, CLOSED, REJECTED = (topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name,
                                      topics.DEALS_CLOSED.name, topics.CALLS_REJECTED.name)
KIND = ("large_corporate", "large")


@dataclass
class World:
    infra: Endpoints
    groups: list[Services]  # one assignment replica each
    env: dict[str, str]  # the replicas' settings
    head_id: uuid.UUID
    head_token: str
    staff: list[uuid.UUID] = field(default_factory=list)

    @property
    def replicas(self) -> list[ServiceProcess]:
        return [g.running["assignment"] for g in self.groups]

    @property
    def url(self) -> str:
        return self.replicas[0].url

    async def stop(self, replica: int) -> None:
        await asyncio.to_thread(self.groups[replica].running["assignment"].stop)

    async def start(self, replica: int) -> None:
        group = self.groups[replica]
        group.start("assignment", group.running["assignment"].port, extra_env=self.env)
        await asyncio.to_thread(group.wait_ready, 90)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.infra.database_url)

    async def employee(self, *, department="commercial", role="agent", capacity=10,
                       on_leave=False, won=0, lost=0, kind=KIND) -> uuid.UUID:
        """A new employee of this module, with a record on `kind`."""
        employee_id = uuid.uuid4()
        conn = await self.connect()
        try:
            await seed_employee(conn, employee_id=employee_id, domain=DOMAIN,
                                name=f"{role} {employee_id.hex[:6]}", department=department,
                                role=role, capacity=capacity, on_leave=on_leave)
            if won or lost:
                await conn.execute(
                    """INSERT INTO negotiator_records (employee_id, segment, size_class, won,
                                                       lost) VALUES ($1, $2, $3, $4, $5)""",
                    employee_id, *kind, won, lost)
        finally:
            await conn.close()
        self.staff.append(employee_id)
        return employee_id

    async def token(self, employee_id: uuid.UUID) -> str:
        token = new_token()
        conn = await self.connect()
        try:
            await conn.execute("INSERT INTO api_tokens (token_hash, employee_id) VALUES ($1, $2)",
                               token_hash(token), employee_id)
        finally:
            await conn.close()
        return token


def routed_event(destination: Destination, *, client_id=None, employee_id=None,
                 stage=Stage.QUALIFIED, value: int | None = 3_000_000,
                 segment=Segment.LARGE_CORPORATE, size_class=SizeClass.LARGE,
                 operator_id=None, call_id=None, category=None) -> CallRouted:
    return CallRouted(
        event_id=uuid.uuid4(), occurred_at=datetime.now(UTC),
        call_id=call_id or f"it-assign:{random_id()}", caller="+79160000000",
        client_id=client_id, client_name="Romashka" if client_id is None else None,
        destination=destination, employee_id=employee_id, reasons=["a test decision"],
        stage=stage, segment=segment, size_class=size_class,
        deal_value=Decimal(value) if value is not None else None,
        currency="RUB" if value is not None else None, operator_id=operator_id,
        category=category,
    )


async def send(bootstrap: str, topic: str, *events, keyed: bool = True) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            key = (str(getattr(event, "client_id", None) or event.call_id).encode()
                   if keyed else None)
            await producer.send_and_wait(topic, event.model_dump_json().encode(), key=key)
    finally:
        await producer.stop()


async def fetch(world: World, query: str, *args) -> list[asyncpg.Record]:
    conn = await world.connect()
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_in_inbox(http: httpx.AsyncClient, world: World, lead_ids: set[str],
                        timeout: float = 30) -> dict[str, dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await http.get(f"{world.url}/v1/inbox", headers=bearer(world.head_token))
        assert response.status_code == 200, response.text
        found = {lead["lead_id"]: lead for lead in response.json()["leads"]
                 if lead["lead_id"] in lead_ids}
        if len(found) == len(lead_ids):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(found)} of {len(lead_ids)} leads in the inbox")
        await asyncio.sleep(0.1)


def distributed(log: Path) -> set[str]:
    """The leads a replica's log says it distributed at their deadline."""
    found = set()
    for line in log.read_text(errors="replace").splitlines():
        if "past its deadline" in line:
            message = json.loads(line)["message"] if line.startswith("{") else line
            found.add(message.split("lead ", 1)[1].split(" ", 1)[0])
    return found


async def wait_no_due_leads(url: str, timeout: float = 60) -> None:
    """Until the inbox holds no lead past its deadline (leftovers of earlier sessions)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while await conn.fetchval(
                "SELECT count(*) FROM leads WHERE employee_id IS NULL AND status = 'open' "
                "AND due_at <= now() - interval '2 seconds'"):
            if asyncio.get_running_loop().time() > deadline:
                break  # nobody can take them: they do not disturb these tests either
            await asyncio.sleep(0.3)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def world(infra: Endpoints, services: Services,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        # Employees an earlier, interrupted run of this module left active.
        await conn.execute("UPDATE employees SET active = false WHERE email LIKE $1",
                           f"%@{DOMAIN}")
        head_id = uuid.uuid4()
        head_email = f"head.{head_id.hex}@{DOMAIN}"
        await seed_employee(conn, employee_id=head_id, email=head_email, name="Olga Sokolova",
                            role="head", capacity=5)
    finally:
        await conn.close()
    extra = {
        "SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS": str(DEADLINE),
        "SWITCHBOARD_ASSIGNMENT_DEADLINE_POLL_SECONDS": "0.2",
        "SWITCHBOARD_ASSIGNMENT_RETRY_SECONDS": "1",
        "SWITCHBOARD_ASSIGNMENT_LOW_VOLUME_PER_HOUR": "0",
        "SWITCHBOARD_ASSIGNMENT_KEEP_MODE": "threshold",
        "SWITCHBOARD_ASSIGNMENT_KEEP_THRESHOLDS": json.dumps({"RUB": KEEP_FROM}),
        "SWITCHBOARD_ASSIGNMENT_HEAD_EMAIL": head_email,
    }
    async with instead_of_the_session_assignment(services, infra.database_url, DOMAIN):
        # Two replicas in the consumer group, each with its own log.
        groups = [Services(Path(tmp_path_factory.mktemp(f"replica-{i}")), infra.env(),
                           usual_ports=False)
                  for i in range(2)]
        for g in groups:
            g.start("assignment", extra_env=extra)
        try:
            for g in groups:
                await asyncio.to_thread(g.wait_ready, 90)
            await wait_no_due_leads(infra.database_url)
            world = World(infra, groups, extra, head_id, "")
            world.staff.append(head_id)
            world.head_token = await world.token(head_id)
            yield world
        finally:
            for g in groups:
                await asyncio.to_thread(g.stop_all)


# ---------------------------------------------------------------------------- the deadline


async def test_past_the_deadline_the_strongest_available_negotiator_takes_the_lead(
        world: World):
    # Given a new large corporate client, and a strong and a weak negotiator on such leads
    client = await seed_client(world.infra.database_url, owned=False,
                               segment="large_corporate")
    star = await world.employee(won=45, lost=5)
    weak = await world.employee(won=10, lost=40)
    for _ in range(3):  # newcomers, at the department's average: runners-up above the weak one
        await world.employee()
    event = routed_event(Destination.COMMERCIAL_DEPARTMENT, client_id=client.client_id)
    lead_id = str(lead_id_for(event.call_id))
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch, \
            httpx.AsyncClient() as http:
        # When the lead arrives and the head does nothing
        await send(world.infra.bootstrap, ROUTED, event)
        waiting = (await wait_in_inbox(http, world, {lead_id}))[lead_id]
        [record] = await watch.wait_for(about(event.call_id), timeout=DEADLINE + 30)
        # Then, past the deadline, the strongest available negotiator has it
        assigned = body(record)
        late = await http.post(f"{world.url}/v1/leads/{lead_id}/keep",
                               headers=bearer(world.head_token))
    assert waiting["value"] == "3000000" and waiting["currency"] == "RUB"
    assert waiting["client"]["client_id"] == str(client.client_id)
    assert 0 < waiting["seconds_left"] <= DEADLINE
    assert assigned["employee_id"] == str(star)
    assert assigned["strategy"] == "strongest_available"
    assert assigned["lead_id"] == lead_id
    runner_ups = {r["employee_id"]: r["score"] for r in assigned["runners_up"]}
    assert runner_ups and all(assigned["score"] > s for s in runner_ups.values())
    assert str(weak) not in runner_ups  # far below the department's average
    # 45 of 50 against a department of 55 of 100: about 84% of 3,000,000
    assert assigned["score"] == pytest.approx(3_000_000 * 0.84, rel=0.03)
    # The head is too late now
    assert late.status_code == 409
    [lead] = await fetch(world, "SELECT * FROM leads WHERE lead_id = $1", uuid.UUID(lead_id))
    assert (lead["decided_at"] - lead["created_at"]).total_seconds() >= DEADLINE - 0.05
    assert lead["published_at"] is not None
    # and the client is the negotiator's now
    [owner] = await fetch(world, "SELECT employee_id FROM ownership WHERE client_id = $1",
                          client.client_id)
    assert owner["employee_id"] == star


# ---------------------------------------------------------------------------- the API


async def test_the_head_keeps_and_assigns_through_the_api(world: World):
    negotiator = await world.employee(won=1, lost=1)
    for _ in range(3):  # runners-up, whatever else the shared database holds
        await world.employee()
    operator = await world.employee(department="client")
    keep, give = (routed_event(Destination.COMMERCIAL_DEPARTMENT, value=v)
                  for v in (9_000_000, 2_000_000))
    keep_id, give_id = str(lead_id_for(keep.call_id)), str(lead_id_for(give.call_id))
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch, \
            httpx.AsyncClient() as http:
        await send(world.infra.bootstrap, ROUTED, keep, give)
        inbox = await wait_in_inbox(http, world, {keep_id, give_id})
        kept = await http.post(f"{world.url}/v1/leads/{keep_id}/keep",
                               headers=bearer(world.head_token))
        wrong_department = await http.post(
            f"{world.url}/v1/leads/{give_id}/assign", json={"employee_id": str(operator)},
            headers=bearer(world.head_token))
        given = await http.post(f"{world.url}/v1/leads/{give_id}/assign",
                                json={"employee_id": str(negotiator)},
                                headers=bearer(world.head_token))
        again = await http.post(f"{world.url}/v1/leads/{keep_id}/keep",
                                headers=bearer(world.head_token))
        unknown = await http.post(f"{world.url}/v1/leads/{uuid.uuid4()}/keep",
                                  headers=bearer(world.head_token))
        no_body = await http.post(f"{world.url}/v1/leads/{give_id}/assign",
                                  headers=bearer(world.head_token))
        after = await http.get(f"{world.url}/v1/inbox", headers=bearer(world.head_token))
        events = {body(r)["lead_id"]: body(r) for r in await watch.wait_for(
            lambda r: body(r)["lead_id"] in (keep_id, give_id), count=2)}
    assert inbox[keep_id]["value"] == "9000000"
    assert inbox[keep_id]["client"] == {"client_id": None, "name": "Romashka",
                                        "segment": "large_corporate"}
    assert inbox[keep_id]["waiting_seconds"] >= 0 and inbox[keep_id]["seconds_left"] > 0
    assert kept.status_code == 200, kept.text
    assert kept.json()["strategy"] == "head_kept" and kept.json()["announced"]
    assert kept.json()["employee_id"] == str(world.head_id)
    assert wrong_department.status_code == 422, wrong_department.text
    assert wrong_department.json()["where"] == "employee_id"
    assert given.status_code == 200, given.text
    assert given.json()["strategy"] == "head_assigned"
    assert again.status_code == 409 and "not in the inbox" in again.json()["error"]
    assert unknown.status_code == 404
    assert no_body.status_code == 422
    assert {keep_id, give_id}.isdisjoint(lead["lead_id"] for lead in after.json()["leads"])
    assert events[keep_id]["employee_id"] == str(world.head_id)
    assert events[keep_id]["strategy"] == "head_kept"
    assert events[give_id]["employee_id"] == str(negotiator)
    assert events[give_id]["strategy"] == "head_assigned"
    assert events[give_id]["score"] > 0 and len(events[give_id]["runners_up"]) == 3


async def test_a_negotiators_token_is_refused_on_the_inbox(world: World):
    negotiator = await world.employee()
    client_head = await world.employee(department="client", role="head")
    tokens = {"negotiator": await world.token(negotiator),
              "client head": await world.token(client_head)}
    lead = uuid.uuid4()
    async with httpx.AsyncClient() as http:
        for who, token in tokens.items():
            for method, path, payload in (
                    ("GET", "/v1/inbox", None),
                    ("POST", f"/v1/leads/{lead}/keep", None),
                    ("POST", f"/v1/leads/{lead}/assign", {"employee_id": str(negotiator)})):
                response = await http.request(method, f"{world.url}{path}", json=payload,
                                              headers=bearer(token))
                assert response.status_code == 403, (who, path, response.text)
                assert "head of sales" in response.json()["error"]
        nobody = await http.get(f"{world.url}/v1/inbox")
        guessed = await http.get(f"{world.url}/v1/inbox", headers=bearer(new_token()))
        basic = await http.get(f"{world.url}/v1/inbox",
                               headers={"Authorization": "Basic b2xnYTpzZWNyZXQ="})
    for refused in (nobody, guessed, basic):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"


def test_switchboard_token_issues_a_token_that_works(world: World, monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", world.infra.database_url)
    cli = typer.Typer()
    cli.command()(token_command)
    email = asyncio.run(_head_email(world))
    result = CliRunner().invoke(cli, [email.upper()])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert httpx.get(f"{world.url}/v1/inbox", headers=bearer(token)).status_code == 200
    # Revoked with --revoke: the old token stops working
    revoked = CliRunner().invoke(cli, [email, "--revoke", "--no-issue"])
    assert revoked.exit_code == 0, revoked.output
    assert httpx.get(f"{world.url}/v1/inbox", headers=bearer(token)).status_code == 401
    world.head_token = asyncio.run(world.token(world.head_id))
    assert CliRunner().invoke(cli, [f"nobody.{random_id()}@{DOMAIN}"]).exit_code == 1


async def _head_email(world: World) -> str:
    [row] = await fetch(world, "SELECT email FROM employees WHERE employee_id = $1",
                        world.head_id)
    return row["email"]


# ---------------------------------------------------------------------------- keeping


async def test_a_lucrative_lead_is_kept_by_the_head_at_once(world: World):
    client = await seed_client(world.infra.database_url, owned=False,
                               segment="large_corporate")
    event = routed_event(Destination.COMMERCIAL_DEPARTMENT, client_id=client.client_id,
                         value=KEEP_FROM + 1)
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch:
        await send(world.infra.bootstrap, ROUTED, event)
        [record] = await watch.wait_for(about(event.call_id), timeout=DEADLINE)
    assigned = body(record)
    assert assigned["employee_id"] == str(world.head_id)
    assert assigned["strategy"] == "head_kept"
    [owner] = await fetch(world, "SELECT employee_id FROM ownership WHERE client_id = $1",
                          client.client_id)
    assert owner["employee_id"] == world.head_id


# ---------------------------------------------------------------------------- replicas


async def test_two_replicas_distribute_each_lead_exactly_once(world: World):
    for _ in range(4):  # room enough, whatever else the shared database holds
        await world.employee(won=20, lost=20)
    events = [routed_event(Destination.COMMERCIAL_DEPARTMENT, value=1_000_000 + i)
              for i in range(24)]
    lead_ids = {str(lead_id_for(e.call_id)) for e in events}
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch:
        await send(world.infra.bootstrap, ROUTED, *events, keyed=False)
        await watch.wait_for(lambda r: body(r)["lead_id"] in lead_ids, count=len(lead_ids),
                             timeout=DEADLINE + 60)
        await watch.settle(2 * 0.2 + 1.0)  # a few more polls of both replicas
    announced = [body(r) for r in watch.records if body(r)["lead_id"] in lead_ids]
    assert sorted(a["lead_id"] for a in announced) == sorted(lead_ids)  # once each
    assert {a["strategy"] for a in announced} == {"strongest_available"}
    rows = await fetch(world, "SELECT lead_id, employee_id FROM leads WHERE lead_id = ANY($1)",
                       [uuid.UUID(i) for i in lead_ids])
    assert {str(r["lead_id"]): str(r["employee_id"]) for r in rows} == {
        a["lead_id"]: a["employee_id"] for a in announced}
    # Both replicas were polling; each lead was decided by exactly one of them
    decided_by = [distributed(r.log_path) & lead_ids for r in world.replicas]
    assert decided_by[0].isdisjoint(decided_by[1])
    assert decided_by[0] | decided_by[1] == lead_ids
    # and nobody went over capacity
    over = await fetch(world, """
        SELECT e.employee_id FROM employees e
        WHERE e.employee_id = ANY($1) AND e.capacity < (
            SELECT count(*) FROM leads l WHERE l.employee_id = e.employee_id
            AND l.status = 'open')""", [uuid.UUID(a["employee_id"]) for a in announced])
    assert over == []


# ---------------------------------------------------------------------------- redelivery


async def test_a_redelivered_call_routed_changes_nothing(world: World):
    client = await seed_client(world.infra.database_url, owned=True)
    to_owner = routed_event(Destination.OWNER, client_id=client.client_id,
                            employee_id=client.owner_id, stage=Stage.RING, value=None)
    kept = routed_event(Destination.COMMERCIAL_DEPARTMENT, value=KEEP_FROM * 2)
    inbox = routed_event(Destination.COMMERCIAL_DEPARTMENT, value=1_000)
    [before] = await fetch(world, "SELECT last_activity_at FROM ownership WHERE client_id = $1",
                           client.client_id)
    mine = {e.call_id for e in (to_owner, kept, inbox)}
    async with TopicWatch(world.infra.bootstrap, ROUTED, ASSIGNED) as watch:
        await send(world.infra.bootstrap, ROUTED, to_owner, kept, inbox)
        await send(world.infra.bootstrap, ROUTED, to_owner, kept, inbox, keyed=False)
        copies = await watch.wait_for(lambda r: r.topic == ROUTED
                                      and body(r)["call_id"] in mine, count=6)
        for copy in copies:
            await wait_committed(world.infra.bootstrap, group_id("assignment"), copy)
        await watch.settle(0.5)
    announced = [body(r) for r in watch.records
                 if r.topic == ASSIGNED and body(r)["call_id"] in mine]
    # The owner's ringing call is a contact, no lead; the third waits in the inbox (and may be
    # distributed by now, once)
    assert [a["call_id"] for a in announced if a["call_id"] != inbox.call_id] == [kept.call_id]
    assert len([a for a in announced if a["call_id"] == inbox.call_id]) <= 1
    by_call = {a["call_id"]: a for a in announced}
    assert by_call[kept.call_id]["strategy"] == "head_kept"
    leads = await fetch(world, "SELECT call_id, due_at FROM leads WHERE call_id = ANY($1)",
                        list(mine))
    assert sorted(r["call_id"] for r in leads) == sorted([kept.call_id, inbox.call_id])
    decisions = await fetch(world, "SELECT call_id FROM call_decisions WHERE call_id = ANY($1)",
                            list(mine))
    assert len(decisions) == 3
    [after] = await fetch(world, "SELECT last_activity_at FROM ownership WHERE client_id = $1",
                          client.client_id)
    assert after["last_activity_at"] > before["last_activity_at"]  # the owner's activity


async def test_an_outcome_counts_once_in_the_negotiators_record(world: World):
    negotiator = await world.employee(won=2, lost=1, kind=("corporate", "medium"))
    client = await seed_client(world.infra.database_url, owned=False)
    ring = routed_event(Destination.OWNER, client_id=client.client_id, employee_id=negotiator,
                        stage=Stage.RING, segment=Segment.CORPORATE, size_class=None,
                        value=None)
    # the negotiator qualifies it as a medium deal (the router would leave such a deal with
    # whoever qualified it; the assignment gives it to whom it rang for)
    call = routed_event(Destination.CLIENT_DEPARTMENT, client_id=client.client_id,
                        employee_id=negotiator, operator_id=negotiator, call_id=ring.call_id,
                        segment=Segment.CORPORATE, size_class=SizeClass.MEDIUM,
                        value=1_000_000, category=Category.COMMERCIAL)
    lead_id = lead_id_for(call.call_id)
    won = DealClosed(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), call_id=call.call_id,
                     lead_id=lead_id, outcome="won", final_value=Decimal(2500000),
                     currency="RUB")
    stranger = DealClosed(event_id=uuid.uuid4(), occurred_at=datetime.now(UTC),
                          call_id=f"it-assign:{random_id()}", lead_id=uuid.uuid4(),
                          outcome="lost")
    async with TopicWatch(world.infra.bootstrap, ASSIGNED, CLOSED, REJECTED) as watch:
        await send(world.infra.bootstrap, ROUTED, ring, call)
        await watch.wait_for(about(call.call_id, ASSIGNED))
        await send(world.infra.bootstrap, CLOSED, won, won, stranger)
        rejected = await watch.wait_for(about(stranger.call_id, REJECTED))
        for copy in await watch.wait_for(about(call.call_id, CLOSED), count=2):
            await wait_committed(world.infra.bootstrap, group_id("assignment"), copy)
    [record] = await fetch(world, """SELECT won, lost FROM negotiator_records
                                     WHERE employee_id = $1 AND segment = 'corporate'
                                     AND size_class = 'medium'""", negotiator)
    assert (record["won"], record["lost"]) == (3, 1)
    [lead] = await fetch(world, "SELECT status FROM leads WHERE lead_id = $1", lead_id)
    assert lead["status"] == "won"
    [outcome] = await fetch(world, "SELECT * FROM lead_outcomes WHERE lead_id = $1", lead_id)
    assert outcome["final_value"] == Decimal(2500000)
    assert body(rejected[0])["where"] == "lead_id"
    assert body(rejected[0])["service"] == "assignment"


# ---------------------------------------------------------------------------- one per deal


async def test_the_calls_of_an_owned_client_make_one_lead_per_deal(world: World):
    # Given a client with an owner, and three of the client's calls ringing for the owner
    client = await seed_client(world.infra.database_url, owned=True)
    rings = [routed_event(Destination.OWNER, client_id=client.client_id,
                          employee_id=client.owner_id, stage=Stage.RING, value=None,
                          segment=Segment.CORPORATE, size_class=None) for _ in range(3)]
    first, second, third = (r.call_id for r in rings)
    # When the owner marks the first two commercial (the router sends them by their size
    # alone: a small deal to the client department, a large one to the head of sales),
    # the second one twice, and the third is only a contact
    small = routed_event(Destination.CLIENT_DEPARTMENT, client_id=client.client_id,
                         employee_id=client.owner_id, operator_id=client.owner_id,
                         call_id=first, value=90_000, segment=Segment.CORPORATE,
                         size_class=SizeClass.SMALL, category=Category.COMMERCIAL)
    large = routed_event(Destination.COMMERCIAL_DEPARTMENT, client_id=client.client_id,
                         operator_id=client.owner_id, call_id=second, value=7_000_000,
                         segment=Segment.CORPORATE, category=Category.COMMERCIAL)
    mine = {first, second, third}
    async with TopicWatch(world.infra.bootstrap, ROUTED, ASSIGNED) as watch:
        await send(world.infra.bootstrap, ROUTED, rings[0], small, rings[1], large, large,
                   rings[2])
        copies = await watch.wait_for(lambda r: r.topic == ROUTED
                                      and body(r)["call_id"] in mine, count=6)
        for copy in copies:
            await wait_committed(world.infra.bootstrap, group_id("assignment"), copy)
        await watch.settle(0.5)
    # Then the first makes the owner's lead, announced once; the second joins it, once
    announced = [body(r) for r in watch.records
                 if r.topic == ASSIGNED and body(r)["call_id"] in mine]
    assert [(a["call_id"], a["employee_id"], a["strategy"]) for a in announced] == [
        (first, str(client.owner_id), "owner")]
    lead_id = lead_id_for(first)
    leads = await fetch(world, "SELECT * FROM leads WHERE client_id = $1", client.client_id)
    assert [r["lead_id"] for r in leads] == [lead_id]
    [lead] = leads
    assert (lead["destination"], lead["stage"], lead["status"]) == ("owner", "qualified", "open")
    assert (lead["value"], lead["size_class"], lead["due_at"]) == (Decimal(90_000), "small",
                                                                  None)
    joined = await fetch(world, "SELECT * FROM lead_calls WHERE call_id = ANY($1)", list(mine))
    assert [(r["call_id"], r["lead_id"], r["value"]) for r in joined] == [
        (second, lead_id, Decimal(7_000_000))]
    # and every call, a contact of the owner, kept the ownership alive
    [owner] = await fetch(world, "SELECT employee_id, last_activity_at FROM ownership "
                          "WHERE client_id = $1", client.client_id)
    assert owner["employee_id"] == client.owner_id
    assert owner["last_activity_at"] >= rings[2].occurred_at


# ---------------------------------------------------------------------------- client dept.


async def test_a_small_lead_stays_with_its_operator_until_they_are_full(world: World):
    operator = await world.employee(department="client", capacity=1)
    first, second = (routed_event(Destination.CLIENT_DEPARTMENT, employee_id=operator,
                                  operator_id=operator, value=90_000,
                                  segment=Segment.SMALL_BUSINESS, size_class=SizeClass.SMALL)
                     for _ in range(2))
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch:
        await send(world.infra.bootstrap, ROUTED, first)
        [one] = await watch.wait_for(about(first.call_id))
        await send(world.infra.bootstrap, ROUTED, second)
        [two] = await watch.wait_for(about(second.call_id))
    assert body(one)["employee_id"] == str(operator)
    assert body(one)["strategy"] == body(two)["strategy"] == "client_department"
    assert body(one)["department"] == body(two)["department"] == "client"
    # The operator is full: the least loaded available operator of the department took it
    other = uuid.UUID(body(two)["employee_id"])
    assert other != operator
    loads = {r["employee_id"]: r["load"] for r in await fetch(world, """
        SELECT * FROM (
            SELECT e.employee_id, e.capacity,
                   (SELECT count(*) FROM leads l WHERE l.employee_id = e.employee_id
                    AND l.status = 'open' AND l.call_id <> $1) AS load
            FROM employees e
            WHERE e.department = 'client' AND e.role = 'agent' AND e.active
              AND NOT e.on_leave) available
        WHERE load < capacity""", second.call_id)}
    assert loads[other] == min(loads.values())


async def test_two_leads_of_one_new_client_at_once_end_with_one_owner(world: World):
    client = await seed_client(world.infra.database_url, owned=False, segment="small_business")
    operators = [await world.employee(department="client") for _ in range(2)]
    events = [routed_event(Destination.CLIENT_DEPARTMENT, client_id=client.client_id,
                           employee_id=o, operator_id=o, value=50_000,
                           segment=Segment.SMALL_BUSINESS, size_class=SizeClass.SMALL)
              for o in operators]
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch:
        await send(world.infra.bootstrap, ROUTED, *events, keyed=False)
        records = await watch.wait_for(lambda r: body(r)["client_id"] == str(client.client_id),
                                       count=2)
    assert sorted(body(r)["employee_id"] for r in records) == sorted(map(str, operators))
    owners = await fetch(world, "SELECT employee_id FROM ownership WHERE client_id = $1",
                         client.client_id)
    assert len(owners) == 1 and owners[0]["employee_id"] in operators


async def test_the_qualified_stage_of_a_call_fills_in_its_lead_and_makes_no_second(
        world: World):
    # Given a large corporate client's call in the inbox since the ring, value unknown
    client = await seed_client(world.infra.database_url, owned=False,
                               segment="large_corporate")
    ring = routed_event(Destination.COMMERCIAL_DEPARTMENT, client_id=client.client_id,
                        stage=Stage.RING, value=None, size_class=None)
    qualified = routed_event(Destination.COMMERCIAL_DEPARTMENT, client_id=client.client_id,
                             call_id=ring.call_id, value=7_000_000)
    lead_id = str(lead_id_for(ring.call_id))
    async with httpx.AsyncClient() as http:
        await send(world.infra.bootstrap, ROUTED, ring)
        before = (await wait_in_inbox(http, world, {lead_id}))[lead_id]
        # When the client department qualifies the same call
        async with TopicWatch(world.infra.bootstrap, ROUTED) as watch:
            await send(world.infra.bootstrap, ROUTED, qualified)
            [copy] = await watch.wait_for(lambda r: body(r)["event_id"] ==
                                          str(qualified.event_id))
        await wait_committed(world.infra.bootstrap, group_id("assignment"), copy)
    # Then the one lead knows its value and size now, and its deadline has not moved (it may
    # have passed by now: the lead is read from the database, not the inbox)
    assert (before["value"], before["size_class"]) == (None, None)
    [lead] = await fetch(world, "SELECT * FROM leads WHERE call_id = $1", ring.call_id)
    assert str(lead["lead_id"]) == lead_id
    assert (lead["value"], lead["currency"], lead["size_class"]) == (Decimal(7_000_000), "RUB",
                                                                     "large")
    assert lead["due_at"].isoformat() == before["due_at"]
    stages = await fetch(world, "SELECT stage FROM call_decisions WHERE call_id = $1",
                         ring.call_id)
    assert sorted(r["stage"] for r in stages) == ["qualified", "ring"]


async def test_a_decision_whose_announcement_was_lost_is_announced_again(world: World):
    # Given a lead decided a minute ago whose leads.assigned Kafka never acknowledged (the
    # replica crashed in between)
    negotiator = await world.employee()
    call_id = f"it-assign:{random_id()}"
    lead_id = lead_id_for(call_id)
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch:  # before it can be sent
        conn = await world.connect()
        try:
            await conn.execute(
                """INSERT INTO leads (lead_id, call_id, employee_id, department, strategy,
                                      destination, created_at, decided_at, score)
                   VALUES ($1, $2, $3, 'commercial', 'strongest_available',
                           'commercial_department', now() - interval '2 minutes',
                           now() - interval '1 minute', 0.5)""",
                lead_id, call_id, negotiator)
        finally:
            await conn.close()
        # When the deadline task next looks
        [record] = await watch.wait_for(about(call_id), timeout=30)
        await watch.settle(1.0)
    # Then the decision is announced, once
    assert len([r for r in watch.records if about(call_id)(r)]) == 1
    assert body(record)["lead_id"] == str(lead_id)
    assert body(record)["employee_id"] == str(negotiator)
    [lead] = await fetch(world, "SELECT published_at FROM leads WHERE lead_id = $1", lead_id)
    assert lead["published_at"] is not None


async def test_deadlines_survive_a_restart_of_every_replica(world: World):
    # Given a lead waiting in the inbox
    event = routed_event(Destination.COMMERCIAL_DEPARTMENT, value=1_500_000)
    lead_id = str(lead_id_for(event.call_id))
    async with httpx.AsyncClient() as http:
        await send(world.infra.bootstrap, ROUTED, event)
        waiting = (await wait_in_inbox(http, world, {lead_id}))[lead_id]
    # When every replica stops, and its deadline passes while none runs
    await asyncio.gather(world.stop(0), world.stop(1))
    due = datetime.fromisoformat(waiting["due_at"])
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)
    [lead] = await fetch(world, "SELECT employee_id FROM leads WHERE lead_id = $1",
                         uuid.UUID(lead_id))
    assert lead["employee_id"] is None
    # Then the replicas, started again, distribute it
    async with TopicWatch(world.infra.bootstrap, ASSIGNED) as watch:
        await asyncio.gather(world.start(0), world.start(1))
        [record] = await watch.wait_for(about(event.call_id), timeout=30)
    assert body(record)["strategy"] == "strongest_available"
