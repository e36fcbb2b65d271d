"""Ring-time call control end to end: SIPp calls through Kamailio (deploy/kamailio/kamailio.cfg),
which asks the real intake whom to ring; the intake gets the pipeline's decision (Kafka,
PostgreSQL and the four services of the session) or, past its deadline, its fallback.

One SIPp phone stands for every phone of the office: the intake's dial template points all
extensions at it, and the Request-URI of the INVITE it gets tells which extension was dialed.
Another stands for Kamailio's own FALLBACK_URI, which must ring only when the intake cannot be
asked or the phone it names is down. The requests go to an intake replica of this module's own
(with the route settings below), beside the session's services, as in
tests/integration/test_route.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import pytest

from shared import topics
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, Endpoints
from tests.sip.harness import (HOST, CallOutcome, Phone, SipLab, free_udp_port, read_messages,
                               require_sip_tools, with_credentials)
from tests.support import TopicWatch, about, random_phone, seed_client

pytestmark = [pytest.mark.sip, pytest.mark.integration]

RECEIVED = topics.CALLS_RECEIVED.name
CONNECTOR = "office-1"
COMPANY_NUMBER = "+74951000000"
DESK = "700"  # the client department desk of tests/integration/rules_always_open.yaml
FALLBACK = "790"  # what the intake dials when no decision comes in time
DEADLINE = 0.8  # seconds: the intake's
# Kamailio's own limit on the route query, in whole seconds: above the intake's deadline, so
# that it is the intake's fallback these tests see, not Kamailio's.
ROUTE_TIMEOUT_SECONDS = 2
# What Kamailio waits for a word from a phone before taking it for down (PHONE_SILENT_MS).
PHONE_SILENT = 2.0
# What the call set-up adds to the route query: relaying, ringing, answering on 127.0.0.1.
SET_UP = 0.5


@dataclass(frozen=True)
class RouteIntake:
    url: str
    phones_port: int  # where the dial template sends every extension

    def uri_of(self, extension: str) -> str:
        return f"sip:{extension}@{HOST}:{self.phones_port}"


@dataclass(frozen=True)
class Office:
    phones: Phone | None  # every extension of the office; None: all of them down
    last_resort: Phone  # Kamailio's FALLBACK_URI


@pytest.fixture(scope="session", autouse=True)
def sip_tools() -> None:
    """Before the session's Kafka and PostgreSQL: no reason to start them without SIPp."""
    require_sip_tools()


@pytest.fixture(scope="module")
def route_intake(infra: Endpoints, services: Services, tmp_path_factory
                 ) -> RouteIntake:
    phones_port = free_udp_port()
    replica = Services(tmp_path_factory.mktemp("pbx-route"), infra.env(), usual_ports=False)
    replica.start("intake", extra_env={
        "SWITCHBOARD_INTAKE_CONNECTORS": json.dumps(CONNECTORS),
        "SWITCHBOARD_INTAKE_ROUTE_DEADLINE_MS": str(round(DEADLINE * 1000)),
        "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION": FALLBACK,
        "SWITCHBOARD_INTAKE_DIAL": json.dumps(
            {"kamailio": f"sip:{{extension}}@{HOST}:{phones_port}"}),
    })
    try:
        replica.wait_ready(names=["intake"])
        yield RouteIntake(replica.running["intake"].url, phones_port)
    finally:
        replica.stop_all()


def start_office(lab: SipLab, intake: RouteIntake, *, phones_up: bool = True) -> Office:
    phones = lab.add_phone("office", port=intake.phones_port) if phones_up else None
    last_resort = lab.add_phone("last-resort")
    lab.start_proxy(route_url=with_credentials(f"{intake.url}/v1/route/kamailio", CONNECTOR,
                                               CONNECTORS[CONNECTOR]),
                    fallback_uri=last_resort.uri, timeout_seconds=ROUTE_TIMEOUT_SECONDS)
    return Office(phones, last_resort)


async def owned_client_with_line(url: str) -> tuple[str, str]:
    """(the client's phone, the owner's extension)."""
    client = await seed_client(url, owned=True)
    extension = str(uuid.uuid4().int % 900000 + 100000)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE employees SET extension = $2 WHERE employee_id = $1",
                           client.owner_id, extension)
    finally:
        await conn.close()
    return client.phone, extension


@contextlib.asynccontextmanager
async def lookup_stopped(services: Services) -> AsyncIterator[None]:
    """The session's lookup stopped meanwhile: no call is decided, the intake waits out its
    deadline and answers its fallback."""
    services.running["lookup"].stop()
    try:
        yield
    finally:
        services.start("lookup")
        await asyncio.to_thread(services.wait_ready, names=["lookup"])


def sent_invites(outcome: CallOutcome) -> list[datetime]:
    """When the caller sent its INVITE, and each copy of it."""
    return [m.at for m in read_messages(outcome.message_log) if m.sent and m.method == "INVITE"]


def rang_at(phone: Phone, sip_call_id: str) -> datetime:
    return next(m.at for m in read_messages(phone.message_log)
                if not m.sent and m.method == "INVITE" and m.header("Call-ID") == sip_call_id)


def route_queries(lab: SipLab, sip_call_id: str) -> int:
    """How many times Kamailio asked the intake about the call (one log line per answer)."""
    assert lab.proxy is not None
    return lab.proxy.log().count(f"route: call {sip_call_id} from ")


async def test_an_owned_clients_call_rings_the_owners_phone(infra, sip_lab, route_intake):
    # Given a client whose owner has extension `extension`
    office = start_office(sip_lab, route_intake)
    phone, extension = await owned_client_with_line(infra.database_url)
    # When the client calls the company
    outcome = await sip_lab.call_async(phone, COMPANY_NUMBER)
    # Then the owner's extension rings and answers, within the deadline
    assert outcome.answered and outcome.answered_by == "office", outcome
    assert office.phones.invites() == {outcome.call_id: route_intake.uri_of(extension)}
    assert office.last_resort.calls() == []
    assert outcome.elapsed < DEADLINE + SET_UP, outcome


async def test_an_unknown_callers_call_rings_the_client_department_desk(sip_lab, route_intake):
    office = start_office(sip_lab, route_intake)
    outcome = await sip_lab.call_async(random_phone(), COMPANY_NUMBER)
    assert outcome.answered and outcome.answered_by == "office", outcome
    assert office.phones.invites() == {outcome.call_id: route_intake.uri_of(DESK)}
    assert office.last_resort.calls() == []
    assert outcome.elapsed < DEADLINE + SET_UP, outcome


async def test_when_the_owners_phone_is_down_the_call_rings_the_fallback(infra, sip_lab,
                                                                         route_intake):
    # Given the owner's phone switched off: nothing answers at its address
    office = start_office(sip_lab, route_intake, phones_up=False)
    phone, extension = await owned_client_with_line(infra.database_url)
    # When the client calls
    outcome = await sip_lab.call_async(phone, COMPANY_NUMBER)
    # Then, the phone silent for PHONE_SILENT, Kamailio rings its fallback: not a 408 at 30 s
    assert outcome.answered and outcome.answered_by == "last-resort", outcome
    assert office.last_resort.calls() == [outcome.call_id]
    assert f"{route_intake.uri_of(extension)} failed (408)" in sip_lab.proxy.log()
    assert outcome.elapsed < DEADLINE + PHONE_SILENT + SET_UP, outcome


# Last in the module, stopping the lookup: its consumers take a while to rejoin once it is back.
async def test_a_retransmitted_invite_makes_one_call(infra, sip_lab, services, route_intake):
    # Given a slow pipeline: with the lookup down, the intake answers only at its deadline
    office = start_office(sip_lab, route_intake)
    async with TopicWatch(infra.bootstrap, RECEIVED) as watch, lookup_stopped(services):
        # When the caller sends its INVITE again while Kamailio waits for the intake
        outcome = await sip_lab.call_async(random_phone(), COMPANY_NUMBER,
                                           retransmit_invite=True)
        # Kamailio sends the Call-ID as the call id: the connector's name prefixes it.
        call_id = f"{CONNECTOR}:{outcome.call_id}"
        await watch.wait_for(about(call_id, RECEIVED))
        await watch.settle(1.0)
    assert outcome.invites_sent == 2 and outcome.answered, outcome
    assert sent_invites(outcome)[1] < rang_at(office.phones, outcome.call_id), \
        "the INVITE came again only after the call rang: no query was under way"
    # Then the pipeline hears of one call, the intake is asked once, and one phone rings once
    assert len([r for r in watch.records if about(call_id, RECEIVED)(r)]) == 1
    assert route_queries(sip_lab, outcome.call_id) == 1
    assert office.phones.invites() == {outcome.call_id: route_intake.uri_of(FALLBACK)}


async def test_with_the_lookup_down_the_call_rings_the_fallback_within_the_deadline(
        sip_lab, services: Services, route_intake):
    office = start_office(sip_lab, route_intake)
    async with lookup_stopped(services):
        outcome = await sip_lab.call_async(random_phone(), COMPANY_NUMBER)
    # The intake's fallback (790, not the desk the router would pick): no decision came
    assert outcome.answered and outcome.answered_by == "office", outcome
    assert office.phones.invites() == {outcome.call_id: route_intake.uri_of(FALLBACK)}
    assert office.last_resort.calls() == []
    assert DEADLINE <= outcome.elapsed < DEADLINE + SET_UP, outcome
