"""Route requests as each PBX sends them: a dialplan's CURL(), Kamailio's http_client_query(),
mod_xml_curl's dialplan binding, Twilio's voice webhook, Zadarma's NOTIFY_START, our generic
JSON."""

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake.freeswitch import from_freeswitch
from services.intake.pbx import call_received_id
from services.intake.route_requests import (
    AnswerFormat,
    NotADialplanLookup,
    NotRouted,
    RouteRequest,
    parse_route_request,
    request_fields,
)
from services.intake.twilio import from_twilio
from shared.events import CallerStatus
from shared.errors import PermanentError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PBX = "office-1"

# What mod_xml_curl POSTs for a dialplan lookup (an abridged set of the channel's headers).
DIALPLAN_LOOKUP = {
    "hostname": "fs1", "section": "dialplan", "tag_name": "", "key_name": "", "key_value": "",
    "Event-Name": "REQUEST_PARAMS", "Core-UUID": "5e1c3d2a", "FreeSWITCH-Hostname": "fs1",
    "Event-Date-Timestamp": "1764237600000000", "Channel-State": "CS_ROUTING",
    "Channel-Name": "sofia/external/+79161234567@203.0.113.5", "Unique-ID": "26c739fc-1b2a",
    "Call-Direction": "inbound", "Channel-Call-UUID": "26c739fc-1b2a",
    "Caller-Direction": "inbound", "Caller-Username": "+79161234567",
    "Caller-Dialplan": "XML", "Caller-Caller-ID-Name": "Ivan", "Caller-Caller-ID-Number":
    "+79161234567", "Caller-Destination-Number": "+74951000000",
    "Caller-Unique-ID": "26c739fc-1b2a", "Caller-Context": "public",
    "Caller-Privacy-Hide-Number": "false", "Hunt-Destination-Number": "+74951000000",
    "Hunt-Context": "public",
}
TWILIO_INCOMING = {
    "AccountSid": "AC0123456789abcdef0123456789abcdef", "CallSid": "CA5f8b1e3c",
    "CallStatus": "ringing", "Direction": "inbound", "From": "+79161234567",
    "To": "+74951000000", "ApiVersion": "2010-04-01",
}
ZADARMA_START = {"event": "NOTIFY_START", "call_start": "2026-11-27 10:00:00",
                 "pbx_call_id": "in_0b3c", "caller_id": "79161234567",
                 "called_did": "74951000000"}
GENERIC = {"pbx": "office-1", "call_id": "a1b2", "caller": "+7 916 123-45-67",
           "dialed": "104"}


def parse(dialect: str, *, query: str = "", body: bytes = b"", region: str = "RU"):
    return parse_route_request(dialect, query=query, body=body, region=region, now=NOW, pbx=PBX)


def form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


# --- asterisk and kamailio -----------------------------------------------------------------

@pytest.mark.parametrize("dialect", ["asterisk", "kamailio"])
def test_the_three_parameters_in_the_query_are_a_call(dialect):
    request = parse(dialect, query="caller=%2B79161234567&dialed=74951000000&call_id=1764.12")
    assert isinstance(request, RouteRequest) and request.dialect == dialect
    call = request.call
    assert call.call_id == "office-1:1764.12"
    assert call.event_id == call_received_id("office-1:1764.12")
    assert (call.caller, call.caller_status, call.dialed) == (
        "+79161234567", CallerStatus.EXTERNAL, "+74951000000")
    assert (call.pbx, call.started_at, call.dialect) == (PBX, NOW, dialect)


@pytest.mark.parametrize("dialect", ["asterisk", "kamailio"])
def test_or_in_a_form_body(dialect):
    request = parse(dialect, body=form({"caller": "+79161234567", "dialed": "104",
                                        "call_id": "1764.12"}))
    assert (request.call.caller, request.call.dialed) == ("+79161234567", "104")


def test_the_query_counts_before_the_body():
    request = parse("asterisk", query="call_id=from-query&dialed=104",
                    body=form({"call_id": "from-body", "caller": "105"}))
    assert request.call.call_id == "office-1:from-query"
    assert request.call.caller == "105"


@pytest.mark.parametrize("dialect", ["asterisk", "kamailio", "freeswitch"])
def test_an_unencoded_plus_is_a_plus(dialect):
    fields = request_fields(dialect, query="caller=+442079460000&dialed=104")
    assert fields["caller"] == "+442079460000"


def test_a_plus_in_twilio_and_zadarma_form_bodies_is_a_space_as_in_any_form():
    assert request_fields("zadarma", body=b"caller_id=a+b")["caller_id"] == "a b"


@pytest.mark.parametrize("caller", ["", "anonymous", "Anonymous", "<unknown>"])
def test_a_withheld_caller_is_routed_like_any_unknown_caller(caller):
    request = parse("asterisk", query=urlencode({"caller": caller, "dialed": "74951000000",
                                                 "call_id": "1764.12"}))
    assert request.call.caller is None
    assert request.call.caller_status in (CallerStatus.WITHHELD, CallerStatus.UNPARSEABLE)


def test_no_caller_at_all_is_withheld():
    request = parse("kamailio", query="dialed=74951000000&call_id=abc@10.0.0.1")
    assert request.call.caller_status is CallerStatus.WITHHELD


@pytest.mark.parametrize("dialect", ["asterisk", "kamailio"])
@pytest.mark.parametrize(("query", "where"), [
    ("caller=105&dialed=104", "call_id"),
    ("caller=105&call_id=1", "dialed"),
    ("caller=105&dialed=&call_id=1", "dialed"),
    ("dialed=104&call_id=" + "1" * 201, "call_id"),
    ("dialed=104&call_id=1&caller=" + "7" * 101, "caller"),
])
def test_a_malformed_request_names_the_field(dialect, query, where):
    with pytest.raises(PermanentError) as refused:
        parse(dialect, query=query)
    assert refused.value.where == where and refused.value.dialect == dialect


def test_asterisk_asks_for_the_hash_form_with_format_hash():
    assert parse("asterisk", query="dialed=104&call_id=1").answer_format is AnswerFormat.PLAIN
    assert parse("asterisk",
                 query="dialed=104&call_id=1&format=HASH").answer_format is AnswerFormat.HASH


def test_an_unknown_format_is_malformed():
    with pytest.raises(PermanentError) as refused:
        parse("asterisk", query="dialed=104&call_id=1&format=json")
    assert refused.value.where == "format"


def test_a_body_that_is_not_utf8_is_malformed():
    with pytest.raises(PermanentError):
        parse("kamailio", body=b"caller=\xff&dialed=104&call_id=1")


# --- freeswitch ----------------------------------------------------------------------------

def test_a_dialplan_lookup_is_a_call_with_its_context_and_destination():
    request = parse("freeswitch", body=form(DIALPLAN_LOOKUP))
    assert isinstance(request, RouteRequest)
    assert request.call.call_id == "office-1:26c739fc-1b2a"
    assert (request.call.caller, request.call.dialed) == ("+79161234567", "+74951000000")
    assert (request.context, request.destination_number) == ("public", "+74951000000")
    assert request.call.started_at == datetime(2025, 11, 27, 10, 0, tzinfo=UTC)


def test_it_is_the_same_call_the_channel_create_event_announces():
    request = parse("freeswitch", body=form(DIALPLAN_LOOKUP))
    event = {**DIALPLAN_LOOKUP, "Event-Name": "CHANNEL_CREATE"}
    created = from_freeswitch(json.dumps(event).encode(), region="RU", now=NOW, pbx=PBX)
    assert request.call == created


@pytest.mark.parametrize("section", ["directory", "configuration", "phrases", "languages"])
def test_another_section_is_not_a_dialplan_lookup(section):
    result = parse("freeswitch", body=form({**DIALPLAN_LOOKUP, "section": section}))
    assert result == NotADialplanLookup(section)


def test_a_request_without_section_is_not_from_mod_xml_curl():
    fields = {k: v for k, v in DIALPLAN_LOOKUP.items() if k != "section"}
    with pytest.raises(PermanentError) as refused:
        parse("freeswitch", body=form(fields))
    assert refused.value.where == "section"


@pytest.mark.parametrize("field", ["Unique-ID", "Call-Direction", "Caller-Context",
                                   "Caller-Destination-Number"])
def test_a_dialplan_lookup_without_a_field_it_needs_names_it(field):
    with pytest.raises(PermanentError) as refused:
        parse("freeswitch", body=form({**DIALPLAN_LOOKUP, field: ""}))
    assert refused.value.where == field


def test_a_caller_asking_for_privacy_is_withheld():
    request = parse("freeswitch",
                    body=form({**DIALPLAN_LOOKUP, "Caller-Privacy-Hide-Number": "true"}))
    assert request.call.caller_status is CallerStatus.WITHHELD and request.call.caller is None


def test_our_own_phone_dialing_out_is_not_routed():
    result = parse("freeswitch", body=form({
        **DIALPLAN_LOOKUP, "Caller-Context": "default", "Caller-Caller-ID-Number": "1000",
        "Caller-Destination-Number": "+74957654321"}))
    assert isinstance(result, NotRouted) and "dialing out" in result.reason


def test_a_call_between_internal_extensions_is_left_to_freeswitch():
    # One of our phones dialing another: ringing the desk instead would break internal calls.
    result = parse("freeswitch", body=form({
        **DIALPLAN_LOOKUP, "Caller-Context": "default", "Caller-Caller-ID-Number": "1000",
        "Caller-Destination-Number": "1001"}))
    assert isinstance(result, NotRouted) and result.kind == "internal"


# --- twilio --------------------------------------------------------------------------------

def test_the_incoming_call_webhook_is_the_call_the_twilio_adapter_reads():
    request = parse("twilio", body=form(TWILIO_INCOMING))
    assert isinstance(request, RouteRequest)
    assert request.call == from_twilio(form(TWILIO_INCOMING), region="RU", now=NOW, pbx=PBX)
    assert request.call.call_id == "office-1:CA5f8b1e3c"


def test_a_voice_url_set_to_get_sends_the_same_parameters_in_the_query():
    request = parse("twilio", query=urlencode(TWILIO_INCOMING))
    assert request.call.call_id == "office-1:CA5f8b1e3c"


def test_twilio_withheld_callers_are_routed():
    request = parse("twilio", body=form({**TWILIO_INCOMING, "From": "+266696687"}))
    assert request.call.caller_status is CallerStatus.WITHHELD


@pytest.mark.parametrize(("changes", "kind"), [
    ({"CallStatus": "completed"}, "hung_up"),
    ({"CallStatus": "in-progress"}, "answered"),
    ({"Direction": "outbound-dial"}, "ringing"),
    ({"From": "client:anna", "To": "+74957654321"}, "ringing"),
])
def test_what_is_not_an_incoming_call_starting_is_not_routed(changes, kind):
    result = parse("twilio", body=form({**TWILIO_INCOMING, **changes}))
    assert isinstance(result, NotRouted) and result.dialect == "twilio" and result.kind == kind


def test_a_twilio_request_without_callsid_is_malformed():
    fields = {k: v for k, v in TWILIO_INCOMING.items() if k != "CallSid"}
    with pytest.raises(PermanentError) as refused:
        parse("twilio", body=form(fields))
    assert refused.value.where == "CallSid"


# --- zadarma -------------------------------------------------------------------------------

def test_notify_start_is_a_call():
    request = parse("zadarma", body=form(ZADARMA_START))
    assert request.call.call_id == "office-1:in_0b3c"
    assert (request.call.caller, request.call.dialed) == ("+79161234567", "+74951000000")


def test_another_zadarma_event_is_not_routed():
    result = parse("zadarma", body=form({**ZADARMA_START, "event": "NOTIFY_END"}))
    assert result == NotRouted("zadarma", "NOTIFY_END", "not the start of an incoming call")


# --- generic -------------------------------------------------------------------------------

def test_the_generic_event_is_a_call_naming_its_own_pbx():
    request = parse("generic", body=json.dumps(GENERIC).encode())
    assert request.call.call_id == "office-1:a1b2"
    assert request.call.caller == "+79161234567"


def test_a_generic_event_without_dialed_names_it():
    with pytest.raises(PermanentError) as refused:
        parse("generic", body=json.dumps({**GENERIC, "dialed": ""}).encode())
    assert refused.value.where == "dialed"


def test_an_unknown_dialect_is_refused_at_dialect():
    with pytest.raises(PermanentError) as refused:
        parse("teams", query="dialed=104")
    assert refused.value.where == "dialect"


# --- whatever arrives ----------------------------------------------------------------------

DIALECTS = ["generic", "asterisk", "kamailio", "freeswitch", "twilio", "zadarma"]
FIELDS = sorted({*DIALPLAN_LOOKUP, *TWILIO_INCOMING, *ZADARMA_START, *GENERIC, "call_id",
                 "dialed", "caller", "format"})
MEANINGFUL = {**DIALPLAN_LOOKUP, **TWILIO_INCOMING, **ZADARMA_START, **GENERIC,
              "format": "hash", "call_id": "1764.12", "dialed": "104"}
fuzz = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


@st.composite
def fields_like(draw) -> dict[str, str]:
    """Most known fields, each with a value that leads somewhere or an arbitrary one."""
    fields = {}
    for key in FIELDS:
        if draw(st.booleans()):
            fields[key] = MEANINGFUL[key] if draw(st.booleans()) else draw(st.text(max_size=30))
    fields.update(draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3)))
    return fields


def answers_properly(dialect: str, *, query: str, body: bytes, region: str = "RU") -> None:
    try:
        result = parse(dialect, query=query, body=body, region=region)
    except PermanentError as refused:
        assert isinstance(refused.reason, str) and refused.reason
        return
    assert isinstance(result, RouteRequest | NotADialplanLookup | NotRouted)
    if isinstance(result, RouteRequest):
        assert result.call.call_id.startswith(f"{result.call.pbx}:")


@pytest.mark.parametrize("dialect", DIALECTS)
@fuzz
@given(query=st.text(max_size=300), body=st.binary(max_size=600))
def test_any_query_and_body(dialect, query, body):
    answers_properly(dialect, query=query, body=body)


@pytest.mark.parametrize("dialect", DIALECTS)
@fuzz
@given(fields=fields_like(), in_query=st.booleans(),
       region=st.sampled_from(["RU", "GB", "US", "ZZ", ""]))
def test_its_own_fields_with_any_values(dialect, fields, in_query, region):
    encoded = urlencode(fields)
    if dialect == "generic":
        answers_properly(dialect, query="", body=json.dumps(fields).encode(), region=region)
    elif in_query:
        answers_properly(dialect, query=encoded, body=b"", region=region)
    else:
        answers_properly(dialect, query="", body=encoded.encode(), region=region)

