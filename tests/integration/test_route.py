"""Ring-time call control on the real stack: a PBX asks `/v1/route/{dialect}` whom to dial and
gets the pipeline's decision, in its own format, within the deadline.

The requests go to an intake replica of this module's own (with the route settings below),
beside the session's services: the decision lands on whichever partition its key picks, and
every replica must be able to answer."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from urllib.parse import urlencode
from xml.etree import ElementTree

import asyncpg
import httpx
import pytest

from services.intake.zadarma import signature as zadarma_signature
from shared import topics
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, Endpoints
from tests.support import TopicWatch, about, body, random_id, random_phone, seed_client, signed

pytestmark = pytest.mark.integration

ROUTED = topics.CALLS_ROUTED.name
DESK = "700"  # the client department desk of tests/integration/rules_always_open.yaml
FALLBACK = "790"  # what the intake dials when no decision comes in time
ZADARMA_SECRET = "zadarma-secret"
DEADLINE_MS = 800
ROUTE_ENV = {
    "SWITCHBOARD_INTAKE_CONNECTORS": json.dumps(CONNECTORS),
    "SWITCHBOARD_INTAKE_ROUTE_DEADLINE_MS": str(DEADLINE_MS),
    "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION": FALLBACK,
    "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER": "+74951000790",
    "SWITCHBOARD_INTAKE_ZADARMA_SECRET": ZADARMA_SECRET,
    "SWITCHBOARD_INTAKE_DIAL": json.dumps({"kamailio": "sip:{extension}@127.0.0.1"}),
}
AUTH = ("office-1", CONNECTORS["office-1"])


@pytest.fixture(scope="module")
def route_intake(infra: Endpoints, services: Services, tmp_path_factory) -> str:
    replica = Services(tmp_path_factory.mktemp("route"), infra.env(), usual_ports=False)
    replica.start("intake", extra_env=ROUTE_ENV)
    try:
        replica.wait_ready(names=["intake"])
        yield replica.running["intake"].url
    finally:
        replica.stop_all()


@pytest.fixture
async def pbx(route_intake: str):
    async with httpx.AsyncClient(base_url=route_intake, timeout=10) as http:
        yield http


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


async def ask_asterisk(pbx: httpx.AsyncClient, caller: str | None, call_id: str,
                       **extra: str) -> httpx.Response:
    params = {"dialed": "+74951000000", "call_id": call_id, **extra}
    if caller is not None:
        params["caller"] = caller
    return await pbx.get("/v1/route/asterisk", params=params, auth=AUTH)


async def test_an_owned_clients_call_dials_the_owner(infra, pbx):
    phone, extension = await owned_client_with_line(infra.database_url)
    started = time.monotonic()
    answer = await ask_asterisk(pbx, phone, random_id())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == f"PJSIP/{extension}"
    assert time.monotonic() - started < DEADLINE_MS / 1000


async def test_an_unknown_caller_dials_the_client_department_desk(pbx):
    answer = await ask_asterisk(pbx, random_phone(), random_id())
    assert (answer.status_code, answer.text) == (200, f"PJSIP/{DESK}")


async def test_a_withheld_caller_is_routed_like_an_unknown_caller(pbx):
    answer = await ask_asterisk(pbx, None, random_id())
    assert (answer.status_code, answer.text) == (200, f"PJSIP/{DESK}")
    answer = await ask_asterisk(pbx, "anonymous", random_id())
    assert (answer.status_code, answer.text) == (200, f"PJSIP/{DESK}")


async def test_a_repeated_request_answers_the_same_decision_and_makes_one_call(infra, pbx):
    phone, extension = await owned_client_with_line(infra.database_url)
    call_id = random_id()
    async with TopicWatch(infra.bootstrap, ROUTED) as watch:
        first = await ask_asterisk(pbx, phone, call_id)
        again = await ask_asterisk(pbx, phone, call_id, format="hash")
        await watch.wait_for(about(f"office-1:{call_id}", ROUTED))
        await watch.settle(1.0)
    assert first.text == f"PJSIP/{extension}"
    assert f"dial=PJSIP%2F{extension}" in again.text or f"dial=PJSIP/{extension}" in again.text
    assert len([r for r in watch.records if about(f"office-1:{call_id}", ROUTED)(r)]) == 1


async def test_generic_json_names_the_employee_and_the_dial_string(infra, pbx):
    phone, extension = await owned_client_with_line(infra.database_url)
    call_id = random_id()
    payload = json.dumps({"pbx": "office-1", "call_id": call_id, "caller": phone,
                          "dialed": "+74951000000"}).encode()
    answer = await pbx.post("/v1/route/generic", content=payload,
                            headers=signed("office-1", CONNECTORS["office-1"], payload))
    assert answer.status_code == 200, answer.text
    decided = answer.json()
    assert decided["call_id"] == f"office-1:{call_id}" and decided["decided"] is True
    assert decided["destination"] == "owner" and decided["dial"] == extension
    assert decided["employee"]["extension"] == extension and decided["rules_version"]


async def test_kamailio_gets_a_sip_uri(pbx):
    answer = await pbx.get("/v1/route/kamailio", auth=AUTH, params={
        "caller": random_phone(), "dialed": "+74951000000", "call_id": random_id()})
    assert (answer.status_code, answer.text) == (200, f"sip:{DESK}@127.0.0.1")


async def test_freeswitch_bridges_to_the_target_then_the_desk(infra, pbx):
    phone, extension = await owned_client_with_line(infra.database_url)
    form = {"section": "dialplan", "Unique-ID": str(uuid.uuid4()), "Call-Direction": "inbound",
            "Caller-Context": "public", "Caller-Caller-ID-Number": phone,
            "Caller-Destination-Number": "74951000000", "Event-Name": "REQUEST_PARAMS"}
    answer = await pbx.post("/v1/route/freeswitch", data=form, auth=AUTH)
    assert answer.status_code == 200, answer.text
    document = ElementTree.fromstring(answer.content)
    bridges = [a.get("data") for a in document.iter("action") if a.get("application") == "bridge"]
    assert bridges == [f"user/{extension}", f"user/{FALLBACK}"]
    assert document.find("section").get("name") == "dialplan"


async def test_zadarma_gets_the_redirect_with_its_signature_checked(pbx):
    form = {"event": "NOTIFY_START", "call_start": "2026-12-01 10:00:00",
            "pbx_call_id": f"in_{random_id()}", "caller_id": random_phone().lstrip("+"),
            "called_did": "74951000000"}
    answer = await pbx.post("/v1/route/zadarma", data=form,
                            headers={"Signature": zadarma_signature(ZADARMA_SECRET, form)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["redirect"] == DESK
    forged = await pbx.post("/v1/route/zadarma", data=form, headers={"Signature": "AAAA"})
    assert forged.status_code == 401


@pytest.mark.parametrize("credentials", [None, ("office-1", "wrong"), ("nobody", "x")])
async def test_bad_or_missing_credentials_get_401(pbx, credentials):
    answer = await pbx.get("/v1/route/asterisk", auth=credentials, params={
        "caller": random_phone(), "dialed": "+74951000000", "call_id": random_id()})
    assert answer.status_code == 401
    assert answer.json()["where"] == "credentials"
    assert answer.headers["www-authenticate"].startswith("Basic")


async def test_an_unknown_dialect_gets_404_and_a_malformed_request_400(pbx):
    unknown = await pbx.get("/v1/route/nortel", auth=AUTH)
    assert (unknown.status_code, unknown.json()["where"]) == (404, "dialect")
    malformed = await pbx.get("/v1/route/asterisk", auth=AUTH,
                              params={"caller": random_phone(), "dialed": "+74951000000"})
    assert (malformed.status_code, malformed.json()["where"]) == (400, "call_id")


async def test_a_route_request_over_the_body_limit_gets_413_declared_or_sent(pbx):
    huge = b"{" + b" " * (70 * 1024) + b"}"
    sent = await pbx.post("/v1/route/generic", auth=AUTH, content=huge,
                          headers={"Content-Type": "application/json"})
    assert sent.status_code == 413 and "exceeds" in sent.json()["error"]

    async def chunks():  # no Content-Length: the size is only known once read
        for _ in range(70):
            yield b" " * 1024

    streamed = await pbx.post("/v1/route/generic", auth=AUTH, content=chunks(),
                              headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "exceeds" in streamed.json()["error"]


async def test_with_the_lookup_down_the_fallback_answers_within_the_deadline(
        infra, services: Services, pbx):
    # Whatever stops the pipeline, the PBX gets something it can dial in time.
    services.running["lookup"].stop()
    try:
        call_id = random_id()
        started = time.monotonic()
        answer = await ask_asterisk(pbx, random_phone(), call_id)
        elapsed = time.monotonic() - started
        assert (answer.status_code, answer.text) == (200, f"PJSIP/{FALLBACK}")
        assert DEADLINE_MS / 1000 <= elapsed < DEADLINE_MS / 1000 + 0.5
    finally:
        async with TopicWatch(infra.bootstrap, ROUTED) as watch:
            services.start("lookup")
            await asyncio.to_thread(services.wait_ready, names=["lookup"])
            # ... and the call is decided all the same once the lookup is back
            decided = await watch.wait_for(about(f"office-1:{call_id}", ROUTED), timeout=90)
    assert body(decided[0])["destination"] == "client_department"


def test_basic_auth_credentials_are_what_asterisk_sends():
    # CURLOPT(userpwd)=office-1:secret: curl's own header form
    assert base64.b64encode(b"office-1:office-secret").decode() == "b2ZmaWNlLTE6b2ZmaWNlLXNlY3JldA=="
    assert urlencode({"caller": "+7916"}) == "caller=%2B7916"
