"""Each PBX's answer, checked against its vendor's format: TwiML, a mod_xml_curl dialplan
document, Asterisk's CURL() and CURLOPT(hashcompat), Kamailio's SIP URI, Zadarma's redirect,
our generic JSON."""

import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote, urlencode
from xml.etree import ElementTree

import pytest

from services.intake.answers import (
    JSON,
    TEXT,
    XML,
    freeswitch_not_found,
    render_answer,
    render_not_routed,
    route_answer,
)
from services.intake.dial import DialPlan, dial_target
from services.intake.route_requests import (
    NotADialplanLookup,
    NotRouted,
    RouteRequest,
    parse_route_request,
)
from shared.events import CallRouted, Destination

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ANNA = uuid.UUID("8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80")
PLAN = DialPlan.build(templates={"kamailio": "sip:{extension}@pbx.example.com"},
                      fallback_extension="200", fallback_number="+74951000200", region="RU")
NO_DESK = DialPlan.build(templates={"kamailio": "sip:{extension}@pbx.example.com"})

REQUESTS = {
    "generic": dict(body=json.dumps({"pbx": "office-1", "call_id": "a1b2",
                                     "caller": "+79161234567", "dialed": "104"}).encode()),
    "asterisk": dict(query="caller=%2B79161234567&dialed=74951000000&call_id=1764.12"),
    "asterisk-hash": dict(query="caller=%2B79161234567&dialed=74951000000&call_id=1764.12"
                                "&format=hash"),
    "kamailio": dict(query="caller=%2B79161234567&dialed=74951000000&call_id=abc%4010.0.0.1"),
    "freeswitch": dict(body=urlencode({
        "section": "dialplan", "Unique-ID": "26c739fc", "Call-Direction": "inbound",
        "Caller-Context": "public", "Caller-Caller-ID-Number": "+79161234567",
        "Caller-Destination-Number": "+74951000000"}).encode()),
    "twilio": dict(body=urlencode({
        "CallSid": "CA5f8b", "CallStatus": "ringing", "Direction": "inbound",
        "From": "+79161234567", "To": "+74951000000"}).encode()),
    "zadarma": dict(body=urlencode({
        "event": "NOTIFY_START", "call_start": "2026-11-27 10:00:00", "pbx_call_id": "in_0b3c",
        "caller_id": "79161234567", "called_did": "74951000000"}).encode()),
}


def request(name: str) -> RouteRequest:
    dialect = name.split("-")[0]
    parsed = parse_route_request(dialect, region="RU", now=NOW, pbx="office-1",
                                 **REQUESTS[name])
    assert isinstance(parsed, RouteRequest)
    return parsed


def routed(**changes) -> CallRouted:
    fields = dict(event_id=uuid.uuid4(), occurred_at=NOW, call_id="office-1:a1b2",
                  caller="+79161234567", client_id=uuid.uuid4(), client_name="Romashka LLC",
                  destination=Destination.OWNER, employee_id=ANNA, employee_name="Anna Ivanova",
                  extension="101", number="+74951000101",
                  reasons=["owned by Anna Ivanova since 2026-10-02"], rules_version="9f2c4e1a")
    return CallRouted(**{**fields, **changes})


NOTHING_TO_DIAL = dict(extension=None, number=None)


# --- twilio --------------------------------------------------------------------------------

def twiml_dials(body: bytes) -> list[tuple[str, str]]:
    response = ElementTree.fromstring(body)
    assert response.tag == "Response"
    dials = []
    for verb in response:
        assert verb.tag == "Dial"
        (noun,) = list(verb)
        dials.append((noun.tag, noun.text))
    return dials


def test_twilio_dials_the_target_then_falls_through_to_the_desk():
    answer = route_answer(request("twilio"), routed(), PLAN)
    assert answer.media_type == XML == "text/xml"
    assert answer.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert twiml_dials(answer.body) == [("Number", "+74951000101"), ("Number", "+74951000200")]


def test_twilio_at_the_deadline_dials_the_desk_alone():
    assert twiml_dials(route_answer(request("twilio"), None, PLAN).body) == [
        ("Number", "+74951000200")]


@pytest.mark.parametrize(("template", "noun", "text"), [
    ("sip:{extension}@office.sip.twilio.com", "Sip", "sip:101@office.sip.twilio.com"),
    ("client:agent-{extension}", "Client", "agent-101"),
])
def test_twilio_dials_sip_uris_and_voice_sdk_users_with_their_own_nouns(template, noun, text):
    plan = DialPlan.build(templates={"twilio": template}, fallback_extension="200")
    dials = twiml_dials(route_answer(request("twilio"), routed(), plan).body)
    assert dials[0] == (noun, text)


def test_twilio_with_nothing_to_dial_gets_an_empty_response():
    answer = route_answer(request("twilio"), None, NO_DESK)
    assert twiml_dials(answer.body) == []


# --- freeswitch ----------------------------------------------------------------------------

def dialplan(body: bytes) -> tuple[ElementTree.Element, list[tuple[str, str]]]:
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>')
    document = ElementTree.fromstring(body)
    assert (document.tag, document.get("type")) == ("document", "freeswitch/xml")
    (section,) = document
    assert (section.tag, section.get("name")) == ("section", "dialplan")
    (context,) = section
    assert context.tag == "context"
    (extension,) = context
    assert extension.tag == "extension" and extension.get("continue") == "false"
    (condition,) = extension
    assert (condition.tag, condition.get("field")) == ("condition", "destination_number")
    actions = [(a.get("application"), a.get("data")) for a in condition]
    assert all(a.tag == "action" for a in condition)
    return context, actions


def test_freeswitch_bridges_to_the_target_continuing_on_fail_to_the_desk():
    answer = route_answer(request("freeswitch"), routed(), PLAN)
    assert answer.media_type == "text/xml"
    context, actions = dialplan(answer.body)
    assert context.get("name") == "public"
    condition = context.find("extension/condition")
    assert re.fullmatch(condition.get("expression"), "+74951000000")
    bridges = [data for app, data in actions if app == "bridge"]
    assert bridges == ["user/101", "user/200"]
    settings = [data for app, data in actions if app == "set"]
    assert "continue_on_fail=true" in settings and "hangup_after_bridge=true" in settings
    first_bridge = actions.index(("bridge", "user/101"))
    assert actions.index(("set", "continue_on_fail=true")) < first_bridge
    assert actions.index(("set", "hangup_after_bridge=true")) < first_bridge


def test_freeswitch_at_the_deadline_bridges_to_the_desk_alone():
    _, actions = dialplan(route_answer(request("freeswitch"), None, PLAN).body)
    assert [data for app, data in actions if app == "bridge"] == ["user/200"]
    assert ("set", "switchboard_outcome=deadline") in actions


def test_the_context_is_the_one_freeswitch_asked_about():
    parsed = parse_route_request("freeswitch", body=urlencode({
        "section": "dialplan", "Unique-ID": "26c739fc", "Call-Direction": "inbound",
        "Caller-Context": "from-gateway", "Caller-Caller-ID-Number": "+79161234567",
        "Caller-Destination-Number": "1000"}).encode(), region="RU", now=NOW, pbx="office-1")
    context, _ = dialplan(route_answer(parsed, routed(), PLAN).body)
    assert context.get("name") == "from-gateway"
    assert context.find("extension/condition").get("expression") == "^1000$"


def test_freeswitch_with_nothing_to_dial_is_not_found_so_it_reads_its_own_dialplan():
    body = route_answer(request("freeswitch"), None, NO_DESK).body
    assert body == freeswitch_not_found().body
    document = ElementTree.fromstring(body)
    assert document.get("type") == "freeswitch/xml"
    assert document.find("section").get("name") == "result"
    assert document.find("section/result").get("status") == "not found"


def test_a_lookup_of_another_section_is_not_found():
    answer = render_not_routed(NotADialplanLookup("directory"))
    assert answer.media_type == "text/xml"
    assert ElementTree.fromstring(answer.body).find("section/result").get("status") == "not found"


# --- asterisk ------------------------------------------------------------------------------

def test_asterisk_gets_the_dial_string_alone():
    answer = route_answer(request("asterisk"), routed(), PLAN)
    assert (answer.body, answer.media_type) == (b"PJSIP/101", TEXT)
    assert TEXT == "text/plain"


def test_asterisk_at_the_deadline_gets_the_desk():
    assert route_answer(request("asterisk"), None, PLAN).body == b"PJSIP/200"


def test_asterisk_with_nothing_to_dial_gets_an_empty_body_its_dialplan_can_test():
    assert route_answer(request("asterisk"), None, NO_DESK).body == b""


def hashcompat(body: bytes, *, legacy: bool = False) -> dict[str, str]:
    """What func_curl's hashcompat makes of a body: split on & then the first =, each side
    percent-decoded (`legacy` also turns + into a space)."""
    fields = {}
    for piece in body.decode().split("&"):
        name, _, value = piece.partition("=")
        if legacy:
            name, value = name.replace("+", " "), value.replace("+", " ")
        fields[unquote(name)] = unquote(value)
    return fields


@pytest.mark.parametrize("legacy", [False, True])
def test_asterisk_hash_form_reads_into_a_hash(legacy):
    answer = route_answer(request("asterisk-hash"), routed(client_name="Romashka & Sons, LLC"),
                          PLAN)
    assert answer.media_type == "text/plain"
    assert b"+" not in answer.body and b" " not in answer.body
    assert hashcompat(answer.body, legacy=legacy) == {
        "dial": "PJSIP/101", "desk": "PJSIP/200", "decided": "1", "outcome": "routed",
        "destination": "owner", "employee": "Anna Ivanova", "client": "Romashka & Sons, LLC"}


def test_asterisk_hash_form_says_when_the_desk_takes_the_call():
    fields = hashcompat(route_answer(request("asterisk-hash"), routed(**NOTHING_TO_DIAL),
                                     PLAN).body)
    assert (fields["dial"], fields["desk"], fields["decided"], fields["outcome"]) == (
        "PJSIP/200", "", "1", "nothing_to_dial")
    deadline = hashcompat(route_answer(request("asterisk-hash"), None, PLAN).body)
    assert (deadline["dial"], deadline["decided"], deadline["outcome"]) == (
        "PJSIP/200", "0", "deadline")


# --- kamailio ------------------------------------------------------------------------------

# What deploy/kamailio/kamailio.cfg accepts as an answer (POSIX [[:space:]] as \s).
KAMAILIO_ACCEPTS = re.compile(r'^sips?:[^\s<>"]+$')


def test_kamailio_gets_a_sip_uri():
    answer = route_answer(request("kamailio"), routed(), PLAN)
    assert answer.media_type == "text/plain"
    assert answer.body == b"sip:101@pbx.example.com"
    assert KAMAILIO_ACCEPTS.match(answer.body.decode())


def test_kamailio_with_no_template_gets_an_empty_body_and_rings_its_fallback():
    answer = route_answer(request("kamailio"), routed(), DialPlan.build(fallback_extension="200"))
    assert answer.body == b"" and not KAMAILIO_ACCEPTS.match("")


# --- zadarma -------------------------------------------------------------------------------

def test_zadarma_is_redirected_to_the_extension_showing_the_client():
    answer = route_answer(request("zadarma"), routed(), PLAN)
    assert answer.media_type == "application/json"
    assert json.loads(answer.body) == {"redirect": "101", "caller_name": "Romashka LLC"}


def test_zadarma_for_an_unknown_caller_shows_no_name():
    answer = route_answer(request("zadarma"), routed(client_id=None, client_name=None), PLAN)
    assert json.loads(answer.body) == {"redirect": "101"}


def test_zadarma_at_the_deadline_is_redirected_to_the_desk():
    assert json.loads(route_answer(request("zadarma"), None, PLAN).body) == {"redirect": "200"}


def test_zadarma_with_nothing_to_dial_keeps_its_own_scenario():
    assert json.loads(route_answer(request("zadarma"), None, NO_DESK).body) == {}
    assert json.loads(render_not_routed(NotRouted("zadarma", "NOTIFY_END", "x")).body) == {}


# --- generic -------------------------------------------------------------------------------

GENERIC_KEYS = ["call_id", "decided", "destination", "employee", "dial", "reasons",
                "rules_version"]


def test_the_generic_answer_has_exactly_its_keys():
    decision = routed()
    answer = route_answer(request("generic"), decision, PLAN)
    assert answer.media_type == JSON == "application/json"
    document = json.loads(answer.body)
    assert list(document) == GENERIC_KEYS
    assert document == {
        "call_id": "office-1:a1b2", "decided": True, "destination": "owner",
        "employee": {"employee_id": str(ANNA), "name": "Anna Ivanova", "extension": "101",
                     "number": "+74951000101"},
        "dial": "101", "reasons": ["owned by Anna Ivanova since 2026-10-02"],
        "rules_version": "9f2c4e1a"}
    assert list(document["employee"]) == ["employee_id", "name", "extension", "number"]


def test_the_generic_answer_at_the_deadline_is_undecided_and_dials_the_desk():
    document = json.loads(route_answer(request("generic"), None, PLAN).body)
    assert list(document) == GENERIC_KEYS
    assert (document["decided"], document["destination"], document["employee"],
            document["dial"], document["rules_version"]) == (False, None, None, "200", None)
    assert "deadline" in document["reasons"][0]


def test_the_generic_answer_says_when_the_target_has_nothing_to_dial():
    document = json.loads(route_answer(request("generic"), routed(**NOTHING_TO_DIAL), PLAN).body)
    assert document["decided"] is True and document["dial"] == "200"
    assert document["employee"]["extension"] is None
    assert "has no extension" in document["reasons"][-1]


def test_a_decision_naming_no_employee_has_a_null_employee():
    document = json.loads(route_answer(
        request("generic"), routed(destination=Destination.CLIENT_DEPARTMENT, employee_id=None,
                                   employee_name=None, extension="200"), PLAN).body)
    assert document["employee"] is None and document["dial"] == "200"


# --- every dialect -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_route_answer_renders_the_dial_target_of_the_decision(name):
    parsed, decision = request(name), routed()
    target = dial_target(decision, dialect=parsed.dialect, plan=PLAN)
    assert render_answer(parsed, target) == route_answer(parsed, decision, PLAN)


@pytest.mark.parametrize(("dialect", "media_type"), [
    ("twilio", "text/xml"), ("freeswitch", "text/xml"), ("zadarma", "application/json"),
    ("asterisk", "text/plain"), ("kamailio", "text/plain"), ("generic", "application/json")])
def test_a_request_not_routed_gets_an_answer_in_its_dialect(dialect, media_type):
    assert render_not_routed(NotRouted(dialect, "x", "not a call")).media_type == media_type
