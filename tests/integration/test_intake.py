"""The intake over HTTP and over `pbx.events`, with the real broker and database."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.intake.signing import twilio_signature
from shared import topics
from shared.kafka import group_id
from switchboard.devstack import Services
from tests.conftest import CONNECTORS, Endpoints
from tests.support import TopicWatch, about, body, generic_call, publish, random_id, \
    random_phone, signed

pytestmark = pytest.mark.integration

RECEIVED, REJECTED, LIFECYCLE = (topics.CALLS_RECEIVED.name, topics.CALLS_REJECTED.name,
                                 topics.CALLS_LIFECYCLE.name)
SECRET = CONNECTORS["office-1"]


@pytest.fixture
async def intake(services: Services):
    async with httpx.AsyncClient(base_url=services.running["intake"].url) as http:
        yield http


async def test_signed_request_accepted_and_a_retry_gives_one_call(infra, intake):
    call_id, payload = generic_call(random_phone(), pbx="office-1")
    async with TopicWatch(infra.bootstrap, RECEIVED) as watch:
        first = await intake.post("/v1/pbx/generic", content=payload,
                                  headers=signed("office-1", SECRET, payload))
        retry = await intake.post("/v1/pbx/generic", content=payload,
                                  headers=signed("office-1", SECRET, payload))
        await watch.wait_for(about(call_id, RECEIVED))
        await watch.settle(1.0)
    assert (first.status_code, first.json()["outcome"]) == (202, "accepted")
    assert (retry.status_code, retry.json()["outcome"]) == (202, "duplicate")
    assert retry.json()["event_id"] == first.json()["event_id"]
    assert len([r for r in watch.records if about(call_id, RECEIVED)(r)]) == 1


@pytest.mark.parametrize("spoil", ["unsigned", "stale", "tampered", "unknown connector",
                                   "wrong secret"])
async def test_unsigned_stale_and_tampered_requests_are_refused(infra, intake, spoil):
    call_id, payload = generic_call(random_phone(), pbx="office-1")
    headers = signed("office-1", SECRET, payload)
    if spoil == "unsigned":
        headers = {}
    elif spoil == "stale":
        headers = signed("office-1", SECRET, payload, at=time.time() - 301)
    elif spoil == "tampered":
        payload = payload.replace(b"office-1", b"office-2")
    elif spoil == "unknown connector":
        headers = signed("elsewhere", SECRET, payload)
    else:
        headers = signed("office-1", "guessed", payload)
    async with TopicWatch(infra.bootstrap, RECEIVED) as watch:
        response = await intake.post("/v1/pbx/generic", content=payload, headers=headers)
        await watch.settle(1.0)
    assert response.status_code == 401
    assert response.json()["error"]
    assert not [r for r in watch.records if about(call_id, RECEIVED)(r)]


async def test_bad_bodies_get_400_naming_the_field_and_413_when_too_big(intake):
    missing = json.dumps({"pbx": "office-1", "call_id": random_id(), "caller": "1"}).encode()
    not_json = b"{oops"
    huge = b"{" + b" " * (70 * 1024) + b"}"
    answers = [await intake.post("/v1/pbx/generic", content=p,
                                 headers=signed("office-1", SECRET, p))
               for p in (missing, not_json, huge)]
    assert answers[0].status_code == 400 and answers[0].json()["where"] == "dialed"
    assert answers[1].status_code == 400 and "not JSON" in answers[1].json()["error"]
    assert answers[2].status_code == 413
    unknown = await intake.post("/v1/pbx/sip-magic", content=missing,
                                headers=signed("office-1", SECRET, missing))
    assert unknown.status_code == 404 and "unknown dialect" in unknown.json()["error"]


@pytest.fixture(scope="module")
def twilio_intake(infra: Endpoints, tmp_path_factory) -> str:
    """A second intake replica that knows the Twilio account's auth token."""
    replica = Services(tmp_path_factory.mktemp("twilio"), infra.env(), usual_ports=False)
    replica.start("intake", extra_env={"SWITCHBOARD_INTAKE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    try:
        replica.wait_ready()
        yield replica.running["intake"].url
    finally:
        replica.stop_all()


TWILIO_TOKEN = "12345"


async def test_twilio_webhook_checked_with_twilios_scheme(infra, twilio_intake):
    form = {"CallSid": "CA" + random_id(), "AccountSid": "AC1", "From": "+79161234567",
            "To": "+74951000000", "CallStatus": "ringing", "Direction": "inbound"}
    content = urlencode(form).encode()
    url = f"{twilio_intake}/v1/pbx/twilio"
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with TopicWatch(infra.bootstrap, RECEIVED) as watch, httpx.AsyncClient() as http:
        good = await http.post(url, content=content, headers={
            **form_headers, "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, form)})
        bad = await http.post(url, content=content, headers={
            **form_headers, "X-Twilio-Signature": twilio_signature("guess", url, form)})
        (received,) = await watch.wait_for(about(f"twilio:{form['CallSid']}", RECEIVED))
    assert good.status_code == 202 and bad.status_code == 401
    assert body(received)["caller"] == "+79161234567"


async def test_asterisk_newchannel_then_dialbegin_over_kafka_gives_one_call(infra, services):
    linkedid = f"{int(time.time())}.{random_id()}"
    pbx = f"ast-{random_id()}"
    newchannel = (f"Event: Newchannel\r\nChannel: PJSIP/trunk-1\r\nChannelState: 4\r\n"
                  f"ChannelStateDesc: Ring\r\nCallerIDNum: 89161234567\r\nContext: from-trunk\r\n"
                  f"Exten: 74951000000\r\nUniqueid: {linkedid}\r\nLinkedid: {linkedid}\r\n\r\n")
    dialbegin = json.dumps({
        "Event": "DialBegin", "Channel": "PJSIP/trunk-1", "CallerIDNum": "89161234567",
        "Context": "from-trunk", "Exten": "74951000000", "Uniqueid": linkedid,
        "Linkedid": linkedid, "DestChannel": "PJSIP/104-2", "DestUniqueid": "x.2",
        "DestLinkedid": linkedid, "DialString": "104"})
    hangup = (f"Event: Hangup\r\nChannel: PJSIP/trunk-1\r\nUniqueid: {linkedid}\r\n"
              f"Linkedid: {linkedid}\r\nCallerIDNum: 89161234567\r\nContext: from-trunk\r\n"
              f"Exten: 74951000000\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n")
    housekeeping = "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
    call_id = f"{pbx}:{linkedid}"
    headers = [("dialect", b"asterisk"), ("pbx", pbx.encode())]
    async with TopicWatch(infra.bootstrap, topics.PBX_EVENTS.name, RECEIVED, LIFECYCLE,
                          REJECTED) as watch:
        await publish(infra.bootstrap, topics.PBX_EVENTS.name, newchannel.encode(),
                      dialbegin.encode(), housekeeping.encode(), hangup.encode(),
                      headers=headers)
        (received,) = await watch.wait_for(about(call_id, RECEIVED))
        (hung_up,) = await watch.wait_for(about(call_id, LIFECYCLE))
        ours = await watch.wait_for(lambda r: r.topic == topics.PBX_EVENTS.name
                                    and pbx.encode() in dict(r.headers).get("pbx", b""),
                                    count=4)
        await wait_committed_all(infra, ours)
        await watch.settle(1.0)
    assert body(received)["caller"] == "+79161234567"
    assert body(received)["dialect"] == "asterisk"
    assert body(hung_up)["phase"] == "hung_up"
    assert len([r for r in watch.records if about(call_id, RECEIVED)(r)]) == 1
    assert not [r for r in watch.records if r.topic == REJECTED and pbx in body(r)["payload"]]


async def wait_committed_all(infra: Endpoints, records) -> None:
    from tests.support import wait_committed

    last = {}
    for r in records:
        last[(r.topic, r.partition)] = r if (r.topic, r.partition) not in last or \
            r.offset > last[(r.topic, r.partition)].offset else last[(r.topic, r.partition)]
    for record in last.values():
        await wait_committed(infra.bootstrap, group_id("intake"), record)


async def test_burst_of_mixed_events_gives_exactly_the_expected_events(infra, services):
    # Given 600 distinct calls, 200 repeats of some of them and 200 malformed events
    pbx = f"burst-{random_id()}"
    calls = [generic_call(random_phone(), pbx=pbx, call_id=f"c{i}") for i in range(600)]
    repeats = [calls[i * 3] for i in range(200)]
    malformed = [json.dumps({"pbx": pbx, "call_id": f"bad{i}", "caller": "1"}).encode()
                 for i in range(200)]
    stream = [p for _, p in calls] + [p for _, p in repeats] + malformed
    stream = [stream[(i * 7919) % len(stream)] for i in range(len(stream))]  # interleaved
    assert len(set(stream)) == 800 and len(stream) == 1000
    async with TopicWatch(infra.bootstrap, topics.PBX_EVENTS.name, RECEIVED,
                          REJECTED) as watch:
        producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            for payload in stream:
                await producer.send(topics.PBX_EVENTS.name, payload)
            await producer.flush()
        finally:
            await producer.stop()
        ours = lambda r: json.loads(r.value).get("call_id", "").startswith(f"{pbx}:")  # noqa: E731
        await watch.wait_for(lambda r: r.topic == RECEIVED and ours(r), count=600, timeout=120)
        await watch.wait_for(lambda r: r.topic == REJECTED and (body(r)["call_id"] or "")
                             .startswith(f"{pbx}:"), count=200, timeout=120)
        sent = await watch.wait_for(lambda r: r.topic == topics.PBX_EVENTS.name
                                    and pbx.encode() in r.value, count=1000)
        await wait_committed_all(infra, sent)
        await watch.settle(1.0)
    received = [body(r)["call_id"] for r in watch.records if r.topic == RECEIVED and ours(r)]
    rejected = [body(r)["call_id"] for r in watch.records
                if r.topic == REJECTED and (body(r)["call_id"] or "").startswith(f"{pbx}:")]
    # Then exactly one CallReceived per call and one rejection per malformed event
    assert sorted(received) == sorted(call_id for call_id, _ in calls)
    assert sorted(rejected) == sorted(f"{pbx}:bad{i}" for i in range(200))
