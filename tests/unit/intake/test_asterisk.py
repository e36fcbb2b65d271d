"""The asterisk dialect, on AMI events shaped as the Asterisk 12+ AMI event docs show them
(Newchannel, DialBegin, Newstate, Hangup) for one inbound call through a FreePBX-style dialplan."""

import json
from datetime import UTC, datetime

import pytest

from services.intake.asterisk import from_asterisk
from services.intake.pbx import Ignored, call_received_id
from shared.events import CallerStatus, CallLifecycle, CallReceived, LifecyclePhase
from shared.errors import PermanentError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PBX = "office-1"

# The trunk's channel: the caller's, the call's first (Uniqueid = Linkedid).
TRUNK = {
    "Event": "Newchannel", "Privilege": "call,all", "Channel": "PJSIP/trunk-00000001",
    "ChannelState": "4", "ChannelStateDesc": "Ring", "CallerIDNum": "89161234567",
    "CallerIDName": "<unknown>", "ConnectedLineNum": "<unknown>",
    "ConnectedLineName": "<unknown>", "Language": "en", "AccountCode": "",
    "Context": "from-trunk", "Exten": "74951000000", "Priority": "1",
    "Uniqueid": "1764237600.101", "Linkedid": "1764237600.101",
}
# The leg the PBX created to ring extension 104 for that call.
CALLEE = {**TRUNK, "Channel": "PJSIP/104-00000002", "ChannelState": "0",
          "ChannelStateDesc": "Down", "CallerIDNum": "104", "Context": "from-internal",
          "Exten": "s", "Uniqueid": "1764237600.102"}
# Extension 101, one of our phones, starting a call.
PHONE = {**TRUNK, "Channel": "PJSIP/101-00000003", "CallerIDNum": "101",
         "Context": "from-internal", "Uniqueid": "1764237700.103",
         "Linkedid": "1764237700.103"}


def ami(fields: dict[str, str], newline: str = "\r\n") -> bytes:
    """An event as AMI writes it: `Key: Value` lines ended by a blank line."""
    return (newline.join(f"{key}: {value}" for key, value in fields.items())
            + newline + newline).encode()


def adapt(fields: dict[str, str], **kwargs):
    return from_asterisk(ami(fields, **kwargs), region="RU", now=NOW, pbx=PBX)


# --- call starts ---------------------------------------------------------------------------

def test_newchannel_of_an_inbound_call_is_a_call_received():
    # given the trunk's Newchannel of a call from a mobile to our main number
    # when it is adapted
    call = adapt(TRUNK)
    # then it is the call, named by its Linkedid, with both numbers normalised
    assert isinstance(call, CallReceived)
    assert call.call_id == "office-1:1764237600.101"
    assert call.event_id == call_received_id("office-1:1764237600.101")
    assert (call.caller, call.caller_raw, call.caller_status) == (
        "+79161234567", "89161234567", CallerStatus.EXTERNAL)
    assert call.dialed == "+74951000000"
    assert call.pbx == PBX and call.dialect == "asterisk"
    assert call.started_at == NOW and call.occurred_at == NOW


def test_dial_begin_of_the_same_call_gives_the_same_call_and_event_id():
    # given the DialBegin the trunk's channel raises when the dialplan rings extension 104
    dial = {**TRUNK, "Event": "DialBegin", "ChannelState": "6", "ChannelStateDesc": "Up",
            "Context": "ext-local", "Exten": "104", "DestChannel": "PJSIP/104-00000002",
            "DestCallerIDNum": "104", "DestContext": "from-internal", "DestExten": "104",
            "DestUniqueid": "1764237600.102", "DestLinkedid": "1764237600.101",
            "DialString": "104"}
    # when both it and the Newchannel are adapted
    first, second = adapt(TRUNK), adapt(dial)
    # then they are one call with one event id, so downstream keeps one
    assert isinstance(second, CallReceived)
    assert second.call_id == first.call_id and second.event_id == first.event_id


def test_the_leg_ringing_an_extension_is_not_another_call():
    result = adapt({**CALLEE})
    assert isinstance(result, Ignored) and result.kind == "Newchannel"
    assert "further channel" in result.reason


def test_local_channels_are_plumbing_not_callers():
    local = {**TRUNK, "Channel": "Local/104@from-internal-00000001;1",
             "Uniqueid": "1764237600.104", "Linkedid": "1764237600.104"}
    assert isinstance(adapt(local), Ignored)


def test_without_linkedid_the_uniqueid_names_the_call():
    fields = {key: value for key, value in TRUNK.items() if key != "Linkedid"}
    assert adapt(fields).call_id == "office-1:1764237600.101"


def test_an_internal_call_between_extensions_is_a_call_from_an_internal_caller():
    # given extension 101 dialing extension 104
    call = adapt({**PHONE, "Exten": "104"})
    # then it is a call all the same, from an internal caller
    assert isinstance(call, CallReceived)
    assert (call.caller, call.caller_status, call.dialed) == ("101", CallerStatus.INTERNAL, "104")


@pytest.mark.parametrize("exten", ["89161234567", "+74957654321", "*97", "s"])
def test_our_phone_dialing_anything_but_an_extension_is_outbound(exten):
    result = adapt({**PHONE, "Exten": exten})
    assert isinstance(result, Ignored) and "dialing out" in result.reason


def test_a_trunk_wrongly_in_a_phone_context_still_brings_its_calls_in():
    # given an outside caller id in from-internal: not one of our phones
    call = adapt({**TRUNK, "Context": "from-internal"})
    assert isinstance(call, CallReceived) and call.caller == "+79161234567"


@pytest.mark.parametrize("context", ["from-pstn", "from-external", "from-did-direct", "public",
                                     "default", "my-company-in"])
def test_any_other_context_is_taken_as_inbound(context):
    assert isinstance(adapt({**TRUNK, "Context": context}), CallReceived)


@pytest.mark.parametrize("caller_id", ["<unknown>", "anonymous", ""])
def test_withheld_caller_id(caller_id):
    call = adapt({**TRUNK, "CallerIDNum": caller_id})
    assert isinstance(call, CallReceived)
    assert call.caller is None and call.caller_status is CallerStatus.WITHHELD
    assert call.caller_raw == caller_id


def test_dial_begin_of_an_originate_has_no_calling_channel():
    # given the DialBegin of an AMI Originate: the caller fields are empty
    originate = {"Event": "DialBegin", "Privilege": "call,all", "Channel": "", "Uniqueid": "",
                 "Linkedid": "", "Context": "", "Exten": "",
                 "DestChannel": "Local/89161234567@default-000001c9;1",
                 "DestUniqueid": "1483732263.1828", "DestLinkedid": "1483732263.1828",
                 "DialString": "89161234567@default"}
    assert isinstance(adapt(originate), Ignored)


@pytest.mark.parametrize("context", ["macro-dialout-trunk", "outbound-allroutes", "outrt-3"])
def test_dial_begin_in_outbound_routing_is_outbound(context):
    # given FreePBX's outbound macro, which has already set the company's number as caller id
    dial = {**PHONE, "Event": "DialBegin", "CallerIDNum": "74951000000", "Context": context,
            "Exten": "s", "DestChannel": "PJSIP/trunk-00000009"}
    assert isinstance(adapt(dial), Ignored)


def test_ami_timestamp_is_the_start_time():
    # given manager.conf with timestampevents = yes
    call = adapt({**TRUNK, "Timestamp": "1764237600.250000"})
    assert call.started_at == datetime(2025, 11, 27, 10, 0, 0, 250000, tzinfo=UTC)
    assert call.occurred_at == NOW


# --- lifecycle -----------------------------------------------------------------------------

def test_caller_channel_up_is_the_call_answered():
    up = {**TRUNK, "Event": "Newstate", "ChannelState": "6", "ChannelStateDesc": "Up"}
    moment = adapt(up)
    assert isinstance(moment, CallLifecycle)
    assert (moment.call_id, moment.phase) == ("office-1:1764237600.101", LifecyclePhase.ANSWERED)
    assert moment.dialect == "asterisk" and moment.occurred_at == NOW


def test_other_channel_states_and_other_channels_are_no_answer():
    assert isinstance(adapt({**TRUNK, "Event": "Newstate", "ChannelState": "5",
                             "ChannelStateDesc": "Ringing"}), Ignored)
    assert isinstance(adapt({**CALLEE, "Event": "Newstate", "ChannelState": "6",
                             "ChannelStateDesc": "Up"}), Ignored)


def test_caller_channel_hangup_is_the_call_hung_up_with_its_cause():
    hangup = {**TRUNK, "Event": "Hangup", "Cause": "16", "Cause-txt": "Normal Clearing"}
    moment = adapt(hangup)
    assert isinstance(moment, CallLifecycle)
    assert (moment.phase, moment.detail) == (LifecyclePhase.HUNG_UP, "Normal Clearing")


def test_a_ring_group_leg_answered_elsewhere_is_no_hang_up_of_the_call():
    leg = {**CALLEE, "Event": "Hangup", "Cause": "26", "Cause-txt": "Answered elsewhere"}
    assert isinstance(adapt(leg), Ignored)


def test_one_moment_signalled_twice_has_one_id():
    hangup = {**TRUNK, "Event": "Hangup", "Cause": "16", "Cause-txt": "Normal Clearing"}
    assert adapt(hangup).event_id == adapt({**hangup, "Cause-txt": "Normal Clearing "}).event_id
    up = {**TRUNK, "Event": "Newstate", "ChannelStateDesc": "Up"}
    assert adapt(up).event_id != adapt(hangup).event_id


# --- housekeeping --------------------------------------------------------------------------

@pytest.mark.parametrize("fields", [
    {"Event": "FullyBooted", "Privilege": "system,all", "Uptime": "5", "LastReload": "5",
     "Status": "Fully Booted"},
    {"Event": "PeerStatus", "Privilege": "system,all", "ChannelType": "PJSIP",
     "Peer": "PJSIP/101", "PeerStatus": "Reachable"},
    {**TRUNK, "Event": "VarSet", "Variable": "DIALSTATUS", "Value": "ANSWER"},
    {**TRUNK, "Event": "Newexten", "Extension": "74951000000", "Application": "Dial",
     "AppData": "PJSIP/104,30"},
    {**TRUNK, "Event": "RTCPSent", "To": "10.0.0.2:10001", "From": "10.0.0.1:10000"},
    {**TRUNK, "Event": "BridgeEnter", "BridgeUniqueid": "b1", "BridgeType": "basic"},
    {**TRUNK, "Event": "DialEnd", "DestChannel": "PJSIP/104-00000002", "DialStatus": "ANSWER"},
])
def test_housekeeping_and_other_events_are_ignored(fields):
    result = adapt(fields)
    assert isinstance(result, Ignored) and result.kind == fields["Event"]


def test_an_action_response_is_ignored():
    result = adapt({"Response": "Success", "Message": "Authentication accepted"})
    assert isinstance(result, Ignored) and result.kind == "Response"


# --- formats -------------------------------------------------------------------------------

def test_lf_line_endings_and_any_key_case_read_the_same():
    older = {("UniqueID" if key == "Uniqueid" else key): value for key, value in TRUNK.items()}
    assert adapt(older, newline="\n") == adapt(TRUNK)


def test_json_with_the_same_keys_reads_the_same():
    raw = json.dumps(TRUNK).encode()
    assert from_asterisk(raw, region="RU", now=NOW, pbx=PBX) == adapt(TRUNK)


def test_json_numbers_keep_their_text():
    # given a connector that sends Uniqueid as a JSON number with a trailing zero
    raw = json.dumps(TRUNK).replace('"1764237600.101"', "1764237600.10").encode()
    call = from_asterisk(raw, region="RU", now=NOW, pbx=PBX)
    assert call.call_id == "office-1:1764237600.10"


# --- refusals ------------------------------------------------------------------------------

def test_several_events_in_one_payload_are_refused():
    raw = ami(TRUNK) + ami(CALLEE)
    with pytest.raises(PermanentError) as refused:
        from_asterisk(raw, region="RU", now=NOW, pbx=PBX)
    assert "one per message" in refused.value.reason and refused.value.dialect == "asterisk"


def test_without_event_it_is_not_an_ami_event():
    with pytest.raises(PermanentError) as refused:
        adapt({"Channel": "PJSIP/trunk-00000001", "Uniqueid": "1"})
    assert refused.value.where == "Event"


def test_a_call_start_without_uniqueid_names_the_field():
    fields = {key: value for key, value in TRUNK.items() if key not in ("Uniqueid", "Linkedid")}
    with pytest.raises(PermanentError) as refused:
        adapt(fields)
    assert refused.value.where == "Uniqueid"


def test_a_line_that_is_not_key_value_names_the_line():
    with pytest.raises(PermanentError) as refused:
        from_asterisk(b"Event: Newchannel\r\nwhat is this\r\n\r\n", region="RU", now=NOW,
                      pbx=PBX)
    assert refused.value.where == "line 2"


def test_an_inbound_call_without_exten_names_the_field():
    with pytest.raises(PermanentError) as refused:
        adapt({**TRUNK, "Exten": ""})
    assert (refused.value.where, refused.value.call_id) == ("Exten", "office-1:1764237600.101")


def test_a_bad_timestamp_names_the_field():
    with pytest.raises(PermanentError) as refused:
        adapt({**TRUNK, "Timestamp": "yesterday"})
    assert refused.value.where == "Timestamp"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"Event": ["Newchannel"]}'])
def test_broken_json_is_refused(raw):
    with pytest.raises(PermanentError):
        from_asterisk(raw, region="RU", now=NOW, pbx=PBX)
