"""The demo `make run` plays: one round of its story against the real stack, fast (no pauses,
a short inbox deadline), and what it leaves on the topics: a shopping-around alert, a verdict
of each kind, a lead the head keeps from her inbox, one she keeps at once, one the deadline
gives to the strongest negotiator, outcomes on deals.closed.

While it runs, the session's assignment replica is replaced by one under the demo's settings
(on the same port, so the desk still finds it); it is started again after. The demo people
are deactivated at the end: their record would otherwise compete for later tests' leads.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from rich.console import Console

from shared import topics
from shared.events import Destination, Stage, Strategy
from switchboard.demo import (GAZSTROY, HEAD_OF_SALES, NEGOTIATOR, OPERATORS, PETROV, ROMASHKA,
                              Cast, demo_password, demo_rules_file, demo_service_env,
                              issue_demo_tokens, load_demo_base, open_leads_of, sign_in_lines)
from switchboard.demo_story import Stack, close_leftovers, story
from switchboard.devstack import Services
from tests.conftest import REPO, Endpoints
from tests.support import TopicWatch, about, body

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DEADLINE = 8.0  # seconds the head has to act on an inbox lead in this test
SECRET = "the demo test's secret"
WATCHED = (topics.ALERTS_SHOPPING_AROUND.name, topics.CALLS_QUALIFIED.name,
           topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name, topics.DEALS_CLOSED.name)


@dataclass
class Demo:
    infra: Endpoints
    stack: Stack
    cast: Cast


async def deactivate_demo_people(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE employees SET active = false WHERE email LIKE '%@demo.example'")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def demo(infra: Endpoints, services: Services,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    settings = demo_service_env(tmp_path_factory.mktemp("demo-rules"), environ={})
    extra = {key: value for key, value in settings.items()
             if key.startswith("SWITCHBOARD_ASSIGNMENT_")}
    extra |= {"SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS": str(DEADLINE),
              "SWITCHBOARD_ASSIGNMENT_DEADLINE_POLL_SECONDS": "0.2"}
    session_replica = services.running["assignment"]
    await asyncio.to_thread(session_replica.stop)
    own = Services(Path(tmp_path_factory.mktemp("demo-assignment")), infra.env(),
                   usual_ports=False)
    try:
        own.start("assignment", session_replica.port, extra_env=extra)
        await asyncio.to_thread(own.wait_ready, 90)
        now = datetime.now(UTC)
        cast = await load_demo_base(infra.database_url, now, SECRET)
        cast = await issue_demo_tokens(infra.database_url, cast, now)
        stack = Stack(bootstrap=infra.bootstrap, desk_url=services.running["desk"].url,
                      lookup_url=services.running["lookup"].url,
                      assignment_url=own.running["assignment"].url)
        quiet = Console(file=io.StringIO())
        await close_leftovers(stack, cast, await open_leads_of(infra.database_url, cast), quiet)
        yield Demo(infra, stack, cast)
    finally:
        await asyncio.to_thread(own.stop_all)
        await deactivate_demo_people(infra.database_url)
        services.start("assignment", session_replica.port)
        await asyncio.to_thread(services.wait_ready, 90, ["assignment"])


async def test_one_round_of_the_story_tells_the_seeds_process(demo: Demo):
    cast, printed = demo.cast, io.StringIO()
    console = Console(file=printed, width=100)
    async with TopicWatch(demo.infra.bootstrap, *WATCHED) as watch:
        # When the story plays one round, without pauses
        async with story(demo.stack, cast, console, pause=0, settle=3, seed=1) as playing:
            played = await asyncio.wait_for(playing.play_round(1), timeout=240)
        calls = played.calls
        lines = printed.getvalue().splitlines()

        # Then every step did what it meant to, each told in one line
        assert played.failures == [], "\n".join(lines)
        assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines), lines
        assert len(lines) >= 20

        # an owned client calls someone else than its owner: the owner and the head hear of it
        [record] = await watch.wait_for(about(calls["shopping"],
                                              topics.ALERTS_SHOPPING_AROUND.name))
        alert = body(record)
        assert alert["client"]["client_id"] == str(cast.clients[GAZSTROY].client_id)
        assert alert["owner"]["employee_id"] == str(cast[NEGOTIATOR].employee_id)
        assert alert["reached"]["employee_id"] == str(cast[PETROV].employee_id)
        assert "other_than_owner" in alert["rules"]
        assert {str(cast[NEGOTIATOR].employee_id), str(cast[HEAD_OF_SALES].employee_id)} <= \
            set(alert["notify"])
        # ...and the call still rings at its owner
        ring = await routed(watch, calls["shopping"], Stage.RING)
        assert (ring["destination"], ring["employee_id"]) == (
            "owner", str(cast[NEGOTIATOR].employee_id))

        # an owned client calls its owner: a contact that rings the owner, and the owner's
        # commercial verdict makes her lead
        ring = await routed(watch, calls["owner"], Stage.RING)
        assert ring["destination"] == Destination.OWNER.value
        assert ring["client_id"] == str(cast.clients[ROMASHKA].client_id)
        owners = played.decided["owner"]
        assert (owners.strategy, owners.employee_id) == (Strategy.OWNER,
                                                         cast[NEGOTIATOR].employee_id)

        # a verdict of each kind, each given at the desk by the person who answered
        verdicts = {step: await qualified(watch, calls[step]) for step in (
            "owner", "operational", "personal", "small deal", "large deal", "large company",
            "huge deal")}
        assert {step: v["category"] for step, v in verdicts.items()} == {
            "owner": "commercial", "operational": "operational", "personal": "personal",
            "small deal": "commercial", "large deal": "commercial",
            "large company": "commercial", "huge deal": "commercial"}
        assert verdicts["operational"]["operator_id"] == str(cast[OPERATORS[0]].employee_id)
        assert verdicts["personal"]["operator_id"] == str(cast[OPERATORS[1]].employee_id)
        assert verdicts["owner"]["operator_id"] == str(cast[NEGOTIATOR].employee_id)
        destinations = {step: (await routed(watch, calls[step], Stage.QUALIFIED))["destination"]
                        for step in ("operational", "personal", "small deal", "large deal")}
        assert destinations == {"operational": "non_commercial", "personal": "non_commercial",
                                "small deal": "client_department",
                                "large deal": "commercial_department"}

        # the small deal stays with the operator who qualified it
        small = await lead_of(watch, calls["small deal"])
        assert (small["strategy"], small["employee_id"]) == (
            "client_department", str(cast[OPERATORS[0]].employee_id))
        # the head of sales keeps one lead from her inbox, and the largest at once
        kept = await lead_of(watch, calls["large company"])
        assert (kept["strategy"], kept["employee_id"]) == (
            "head_kept", str(cast[HEAD_OF_SALES].employee_id))
        assert kept["lead_id"] == str(played.decided["kept"].lead_id)
        at_once = await lead_of(watch, calls["huge deal"])
        assert (at_once["strategy"], at_once["employee_id"]) == (
            "head_kept", str(cast[HEAD_OF_SALES].employee_id))
        # the lead she leaves goes, past the deadline, to the strongest negotiator
        passed = await lead_of(watch, calls["large deal"])
        assert (passed["strategy"], passed["employee_id"]) == (
            "strongest_available", str(cast[NEGOTIATOR].employee_id))
        assert passed["lead_id"] == str(played.decided["deadline"].lead_id)

        # and the outcomes come back on deals.closed; the owner's deal stays open
        closed = {str(event.lead_id) for event in played.closed}
        assert closed == {small["lead_id"], kept["lead_id"], at_once["lead_id"],
                          passed["lead_id"]}
        for lead_id in closed:
            [record] = await watch.wait_for(
                lambda r, lead_id=lead_id: r.topic == topics.DEALS_CLOSED.name
                and body(r)["lead_id"] == lead_id)
            assert body(record)["outcome"] in ("won", "lost")
        assert str(owners.lead_id) not in closed

    printed_story = printed.getvalue()
    for told in ("shopping-around alert", "keeps the", "keeps it at once", "the deadline passed",
                 "deals.closed", "no lead", "a new lead for Anna Ivanova"):
        assert told in printed_story


async def test_the_demo_people_sign_in_to_the_desk_with_the_printed_passwords(demo: Demo):
    # Given the sign-ins dev up prints, on a narrow terminal
    printed = io.StringIO()
    console = Console(file=printed, width=60)
    for line in sign_in_lines(demo.cast, demo.stack.desk_url):
        console.print(line, soft_wrap=True)
    table = printed.getvalue()
    assert demo.stack.desk_url in table
    for email in (OPERATORS[0], HEAD_OF_SALES, NEGOTIATOR):
        password = demo_password(SECRET, email)
        [line] = [line for line in table.splitlines() if email in line]
        assert password in line
        # When the person signs in with it, Then the desk lets them in
        async with httpx.AsyncClient(base_url=demo.stack.desk_url) as http:
            answer = await http.post("/login", data={"email": email, "password": password})
        assert answer.status_code == 303, answer.text
        assert answer.cookies


def test_the_demo_settings_give_way_to_the_environment(tmp_path: Path):
    settings = demo_service_env(tmp_path, environ={})
    assert settings["SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS"] == "60"
    assert settings["SWITCHBOARD_ASSIGNMENT_LOW_VOLUME_PER_HOUR"] == "0"
    rules = Path(settings["SWITCHBOARD_ROUTER_RULES_FILE"])
    assert "00:00-24:00" in rules.read_text() and "closed" not in rules.read_text()
    given = demo_service_env(tmp_path, environ={
        "SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS": "120"})
    assert "SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS" not in given
    assert demo_rules_file(tmp_path, REPO / "no-such-rules.yaml") is None


async def routed(watch: TopicWatch, call_id: str, stage: Stage) -> dict:
    [record] = await watch.wait_for(
        lambda r: r.topic == topics.CALLS_ROUTED.name and body(r)["call_id"] == call_id
        and body(r)["stage"] == stage.value)
    return body(record)


async def qualified(watch: TopicWatch, call_id: str) -> dict:
    [record] = await watch.wait_for(about(call_id, topics.CALLS_QUALIFIED.name))
    return body(record)


async def lead_of(watch: TopicWatch, call_id: str) -> dict:
    [record] = await watch.wait_for(about(call_id, topics.LEADS_ASSIGNED.name))
    return body(record)
