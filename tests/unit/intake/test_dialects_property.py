"""Whatever arrives, a dialect adapter answers with an event, an `Ignored`, or a
`PermanentError` saying what was wrong: never another exception, which would stop a consumer
or answer a PBX with a 500."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.intake.asterisk import from_asterisk
from services.intake.freeswitch import from_freeswitch
from services.intake.generic import from_generic
from services.intake.pbx import Ignored
from services.intake.twilio import from_twilio
from shared.events import CallLifecycle, CallReceived
from shared.errors import PermanentError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PBX = "office-1"

ADAPTERS: dict[str, Callable] = {
    "asterisk": from_asterisk,
    "freeswitch": from_freeswitch,
    "twilio": from_twilio,
    "generic": lambda raw, *, region, now, pbx: from_generic(raw, region=region, now=now),
}

# The fields the adapters read, with values that lead somewhere.
MEANINGFUL = {
    "Event": ["Newchannel", "DialBegin", "Newstate", "Hangup", "FullyBooted"],
    "Event-Name": ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP",
                   "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT"],
    "CallStatus": ["ringing", "in-progress", "completed", "busy", "queued"],
    "Direction": ["inbound", "outbound-api", "outbound-dial"],
    "Call-Direction": ["inbound", "outbound"],
    "Context": ["from-internal", "from-trunk", "macro-dialout-trunk", "outrt-1"],
    "Caller-Context": ["default", "public"],
    "Channel": ["PJSIP/trunk-00000001", "Local/104@from-internal-1;1", ""],
    "Channel-Name": ["sofia/external/x", "loopback/1000-b"],
    "ChannelStateDesc": ["Up", "Ring", "Down"],
    "ChannelState": ["6", "4"],
    "Uniqueid": ["1764237600.101", "1764237600.102", ""],
    "Linkedid": ["1764237600.101", ""],
    "Unique-ID": ["26c739fc"],
    "Channel-Call-UUID": ["26c739fc", "other"],
    "CallSid": ["CA5f8b"],
    "call_id": ["a1b2"],
    "pbx": ["office-1"],
    "CallerIDNum": ["104", "89161234567", "<unknown>"],
    "Caller-Caller-ID-Number": ["1000", "+79161234567", "0000000000"],
    "From": ["+79161234567", "+266696687", "client:anna", "anonymous", ""],
    "caller": ["+7 916 123-45-67", "104", None],
    "Exten": ["74951000000", "104", "s", "*97", ""],
    "Caller-Destination-Number": ["+74951000000", "1001", "*98"],
    "To": ["+74951000000", "104", "client:boris", ""],
    "dialed": ["104", "+7 495 100-00-00"],
    "Caller-Privacy-Hide-Number": ["true", "false"],
    "Timestamp": ["1764237600.5", "Fri, 27 Nov 2026 10:05:00 +0000", "99999999999",
                  "Fri, 27 Nov 9999 23:59:59 -2359"],
    "Event-Date-Timestamp": ["1575391730378323", "99999999999999999", "0"],
    "started_at": ["2026-11-27T10:00:00Z", "2026-11-27T10:00:00"],
    "Cause-txt": ["Normal Clearing"],
    "Hangup-Cause": ["NORMAL_CLEARING"],
    "Response": ["Success"],
}

regions = st.sampled_from(["RU", "GB", "US", "ZZ", ""])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
keys = st.sampled_from(sorted(MEANINGFUL)) | st.text(max_size=20)



# The fields each dialect reads.
FIELDS = {
    "asterisk": ["Event", "Response", "Channel", "Uniqueid", "Linkedid", "CallerIDNum",
                 "Context", "Exten", "ChannelStateDesc", "ChannelState", "Cause-txt",
                 "Timestamp"],
    "freeswitch": ["Event-Name", "Unique-ID", "Call-Direction", "Channel-Call-UUID",
                   "Channel-Name", "Caller-Caller-ID-Number", "Caller-Destination-Number",
                   "Caller-Context", "Caller-Privacy-Hide-Number", "Event-Date-Timestamp",
                   "Hangup-Cause"],
    "twilio": ["CallSid", "CallStatus", "Direction", "From", "To", "Timestamp"],
    "generic": ["pbx", "call_id", "caller", "dialed", "started_at"],
}


MOSTLY = st.sampled_from([True] * 7 + [False])


@st.composite
def call_like(draw, fields: list[str], values=None) -> dict:
    """Most of a dialect's fields, each with a value that leads somewhere or an arbitrary one,
    and a few fields of no meaning."""
    arbitrary = st.text(max_size=30) if values is None else values
    event = {}
    for key in fields:
        if draw(MOSTLY):
            event[key] = draw(st.sampled_from(MEANINGFUL[key]) if draw(MOSTLY) else arbitrary)
    event.update(draw(st.dictionaries(st.text(max_size=20), st.text(max_size=30), max_size=3)))
    return event


def as_json(fields: dict) -> bytes:
    return json.dumps(fields).encode()


def as_ami(fields: dict) -> bytes:
    return ("\r\n".join(f"{key}: {value}" for key, value in fields.items()) + "\r\n\r\n").encode()


def as_form(fields: dict) -> bytes:
    return urlencode({key: "" if value is None else str(value)
                      for key, value in fields.items()}).encode()


def outcome(adapter: Callable, raw: bytes, region: str) -> str:
    """What the adapter made of `raw`, having checked it is one of the allowed answers."""
    try:
        result = adapter(raw, region=region, now=NOW, pbx=PBX)
    except PermanentError as refused:
        assert isinstance(refused.reason, str) and refused.reason
        return "PermanentError"
    assert isinstance(result, CallReceived | CallLifecycle | Ignored)
    return type(result).__name__


def answers_properly(adapter: Callable, raw: bytes, region: str) -> None:
    event(outcome(adapter, raw, region))  # shown by pytest --hypothesis-show-statistics


fuzz = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
fuzz_more = settings(fuzz, max_examples=300)
each_adapter = pytest.mark.parametrize("name", sorted(ADAPTERS))


@each_adapter
@fuzz
@given(raw=st.binary(max_size=2000), region=regions)
def test_any_bytes(name, raw, region):
    answers_properly(ADAPTERS[name], raw, region)


@each_adapter
@fuzz
@given(text=st.text(max_size=2000), region=regions)
def test_any_text(name, text, region):
    answers_properly(ADAPTERS[name], text.encode(), region)


@each_adapter
@fuzz
@given(data=json_values, region=regions)
def test_any_json(name, data, region):
    answers_properly(ADAPTERS[name], json.dumps(data).encode(), region)


@each_adapter
@fuzz
@given(fields=st.dictionaries(keys, json_values, max_size=15), region=regions)
def test_any_dict_as_json(name, fields, region):
    answers_properly(ADAPTERS[name], as_json(fields), region)


@each_adapter
@fuzz_more
@given(data=st.data(), region=regions)
def test_its_own_fields_as_json(name, data, region):
    fields = data.draw(call_like(FIELDS[name], values=json_values))
    answers_properly(ADAPTERS[name], as_json(fields), region)


@each_adapter
@fuzz_more
@given(data=st.data(), region=regions)
def test_its_own_fields_in_its_own_format(name, data, region):
    fields = data.draw(call_like(FIELDS[name]))
    encode = {"asterisk": as_ami, "twilio": as_form}.get(name, as_json)
    answers_properly(ADAPTERS[name], encode(fields), region)


@each_adapter
@fuzz
@given(data=st.data(), other=st.sampled_from(sorted(FIELDS)),
       encode=st.sampled_from([as_json, as_ami, as_form]), region=regions)
def test_another_dialects_fields_in_any_format(name, data, other, encode, region):
    fields = data.draw(call_like(FIELDS[other]))
    answers_properly(ADAPTERS[name], encode(fields), region)


# Python's json module raises ValueError past 4300 digits and RecursionError when nested deep.
HOSTILE_JSON = [b'{"Event": ' + b"1" * 5000 + b"}", b"[" * 100_000, b'{"a":' * 100_000]


@pytest.mark.parametrize("name", ["asterisk", "freeswitch", "twilio"])
@pytest.mark.parametrize("raw", HOSTILE_JSON, ids=["huge-int", "deep-list", "deep-object"])
def test_hostile_json(name, raw):
    assert outcome(ADAPTERS[name], raw, "RU")


@pytest.mark.parametrize("raw", HOSTILE_JSON, ids=["huge-int", "deep-list", "deep-object"])
def test_hostile_json_generic(raw):
    assert outcome(ADAPTERS["generic"], raw, "RU")
