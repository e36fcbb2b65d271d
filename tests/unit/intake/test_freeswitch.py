"""The freeswitch dialect, on JSON events shaped as FreeSWITCH's event-socket docs and event
list show them (`event json CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE`)."""

import json
from datetime import UTC, datetime

import pytest

from services.intake.pbx import Ignored, call_received_id
from services.intake.freeswitch import from_freeswitch
from shared.events import CallerStatus, CallLifecycle, CallReceived, LifecyclePhase
from shared.errors import PermanentError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PBX = "office-2"
A_LEG = "26c739fc-8d49-43ee-9c9e-129e81236cd2"

# The caller's leg of a call from a mobile, in through the gateway to the public context.
CREATE = {
    "Event-Name": "CHANNEL_CREATE", "Core-UUID": "ecd4d804-eb44-45eb-8efe-74205ab97d25",
    "FreeSWITCH-Hostname": "pbx2", "Event-Date-Local": "2019-12-03 16:48:50",
    "Event-Date-GMT": "Tue, 03 Dec 2019 16:48:50 GMT", "Event-Date-Timestamp": "1575391730378323",
    "Event-Calling-File": "switch_core_state_machine.c", "Event-Sequence": "9274",
    "Channel-State": "CS_INIT", "Channel-Call-State": "DOWN",
    "Channel-Name": "sofia/external/+79161234567@sip.example.com", "Unique-ID": A_LEG,
    "Call-Direction": "inbound", "Presence-Call-Direction": "inbound",
    "Channel-Call-UUID": A_LEG, "Caller-Direction": "inbound",
    "Caller-Logical-Direction": "inbound", "Caller-Username": "+79161234567",
    "Caller-Dialplan": "XML", "Caller-Caller-ID-Name": "+79161234567",
    "Caller-Caller-ID-Number": "+79161234567", "Caller-Orig-Caller-ID-Number": "+79161234567",
    "Caller-Network-Addr": "203.0.113.10", "Caller-Destination-Number": "+74951000000",
    "Caller-Unique-ID": A_LEG, "Caller-Source": "mod_sofia", "Caller-Context": "public",
    "Caller-Privacy-Hide-Name": "false", "Caller-Privacy-Hide-Number": "false",
}
# The leg FreeSWITCH created to ring user 1000 for that call.
B_LEG = {**CREATE, "Unique-ID": "9a1f0e7c-0000-4000-8000-000000000002",
         "Call-Direction": "outbound", "Caller-Direction": "outbound",
         "Channel-Name": "sofia/internal/1000@10.0.0.20"}
# User 1000, one of our phones, in the default context.
PHONE = {**CREATE, "Unique-ID": "5b2d7e10-0000-4000-8000-000000000003",
         "Channel-Call-UUID": "5b2d7e10-0000-4000-8000-000000000003",
         "Channel-Name": "sofia/internal/1000@10.0.0.20", "Caller-Caller-ID-Number": "1000",
         "Caller-Context": "default"}


def adapt(event: dict[str, str]):
    return from_freeswitch(json.dumps(event).encode(), region="RU", now=NOW, pbx=PBX)


# --- call starts ---------------------------------------------------------------------------

def test_channel_create_of_an_inbound_call_is_a_call_received():
    call = adapt(CREATE)
    assert isinstance(call, CallReceived)
    assert call.call_id == f"office-2:{A_LEG}"
    assert call.event_id == call_received_id(f"office-2:{A_LEG}")
    assert (call.caller, call.caller_status, call.dialed) == (
        "+79161234567", CallerStatus.EXTERNAL, "+74951000000")
    assert call.dialect == "freeswitch"


def test_event_date_timestamp_is_the_start_in_microseconds():
    call = adapt(CREATE)
    assert call.started_at == datetime(2019, 12, 3, 16, 48, 50, 378323, tzinfo=UTC)
    assert call.occurred_at == NOW


def test_without_timestamp_the_call_starts_when_received():
    event = {key: value for key, value in CREATE.items() if key != "Event-Date-Timestamp"}
    assert adapt(event).started_at == NOW


def test_the_outbound_leg_ringing_a_phone_is_not_another_call():
    result = adapt(B_LEG)
    assert isinstance(result, Ignored) and result.kind == "CHANNEL_CREATE"


def test_a_further_inbound_leg_of_a_call_is_not_another_call():
    further = {**CREATE, "Unique-ID": "7c000000-0000-4000-8000-000000000004"}
    assert isinstance(adapt(further), Ignored)


def test_loopback_channels_are_plumbing():
    loop = {**CREATE, "Channel-Name": "loopback/1000-b"}
    assert isinstance(adapt(loop), Ignored)


def test_an_internal_call_between_users_is_a_call_from_an_internal_caller():
    call = adapt({**PHONE, "Caller-Destination-Number": "1001"})
    assert isinstance(call, CallReceived)
    assert (call.caller, call.caller_status, call.dialed) == ("1000", CallerStatus.INTERNAL,
                                                              "1001")


@pytest.mark.parametrize("destination", ["89161234567", "+74957654321", "*98"])
def test_our_phone_dialing_anything_but_an_extension_is_outbound(destination):
    result = adapt({**PHONE, "Caller-Destination-Number": destination})
    assert isinstance(result, Ignored) and "dialing out" in result.reason


def test_a_gateway_in_the_default_context_still_brings_its_calls_in():
    call = adapt({**CREATE, "Caller-Context": "default"})
    assert isinstance(call, CallReceived) and call.caller == "+79161234567"


@pytest.mark.parametrize("number", ["anonymous", "0000000000", ""])
def test_withheld_caller_id(number):
    call = adapt({**CREATE, "Caller-Caller-ID-Number": number})
    assert call.caller is None and call.caller_status is CallerStatus.WITHHELD
    assert call.caller_raw == number


def test_a_caller_who_asked_for_privacy_is_withheld_and_the_number_not_passed_on():
    call = adapt({**CREATE, "Caller-Privacy-Hide-Number": "true"})
    assert (call.caller, call.caller_raw, call.caller_status) == (None, "",
                                                                  CallerStatus.WITHHELD)


# --- lifecycle -----------------------------------------------------------------------------

def test_channel_answer_of_the_callers_leg_is_the_call_answered():
    answer = {**CREATE, "Event-Name": "CHANNEL_ANSWER", "Channel-Call-State": "ACTIVE",
              "Event-Date-Timestamp": "1575391735000000"}
    moment = adapt(answer)
    assert isinstance(moment, CallLifecycle)
    assert (moment.call_id, moment.phase) == (f"office-2:{A_LEG}", LifecyclePhase.ANSWERED)
    assert moment.occurred_at == datetime(2019, 12, 3, 16, 48, 55, tzinfo=UTC)


def test_both_hangup_events_are_one_hang_up_with_its_cause():
    hangup = {**CREATE, "Event-Name": "CHANNEL_HANGUP", "Hangup-Cause": "NORMAL_CLEARING"}
    complete = {**hangup, "Event-Name": "CHANNEL_HANGUP_COMPLETE"}
    first, second = adapt(hangup), adapt(complete)
    assert isinstance(first, CallLifecycle) and isinstance(second, CallLifecycle)
    assert (first.phase, first.detail) == (LifecyclePhase.HUNG_UP, "NORMAL_CLEARING")
    assert first.event_id == second.event_id


def test_answer_and_hangup_of_other_legs_are_ignored():
    assert isinstance(adapt({**B_LEG, "Event-Name": "CHANNEL_ANSWER"}), Ignored)
    assert isinstance(adapt({**B_LEG, "Event-Name": "CHANNEL_HANGUP_COMPLETE",
                             "Hangup-Cause": "ORIGINATOR_CANCEL"}), Ignored)


def test_answer_of_our_phone_dialing_out_is_ignored():
    answer = {**PHONE, "Event-Name": "CHANNEL_ANSWER", "Caller-Destination-Number": "89161234567"}
    assert isinstance(adapt(answer), Ignored)


@pytest.mark.parametrize("name", ["HEARTBEAT", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
                                  "CHANNEL_PROGRESS_MEDIA", "CHANNEL_BRIDGE", "CHANNEL_EXECUTE",
                                  "CHANNEL_DESTROY", "CUSTOM", "BACKGROUND_JOB"])
def test_other_events_are_ignored(name):
    result = adapt({**CREATE, "Event-Name": name})
    assert isinstance(result, Ignored) and result.kind == name


def test_heartbeat_without_any_call_is_ignored_not_refused():
    heartbeat = {"Event-Name": "HEARTBEAT", "Core-UUID": "ecd4d804", "Up-Time": "0 years, 1 day",
                 "Event-Date-Timestamp": "1575391730378323"}
    assert isinstance(adapt(heartbeat), Ignored)


# --- refusals ------------------------------------------------------------------------------

def test_plain_text_events_are_refused_asking_for_json():
    plain = (b"Event-Name: CHANNEL_CREATE\nUnique-ID: " + A_LEG.encode()
             + b"\nCaller-Caller-ID-Number: %2B79161234567\n\n")
    with pytest.raises(PermanentError) as refused:
        from_freeswitch(plain, region="RU", now=NOW, pbx=PBX)
    assert "JSON" in refused.value.reason and refused.value.dialect == "freeswitch"


def test_without_event_name_it_is_not_an_event():
    with pytest.raises(PermanentError) as refused:
        adapt({"Unique-ID": A_LEG})
    assert refused.value.where == "Event-Name"


def test_a_call_event_without_unique_id_names_the_field():
    event = {key: value for key, value in CREATE.items() if key != "Unique-ID"}
    with pytest.raises(PermanentError) as refused:
        adapt(event)
    assert refused.value.where == "Unique-ID"


def test_a_call_event_without_direction_names_the_field():
    event = {key: value for key, value in CREATE.items()
             if key not in ("Call-Direction", "Caller-Direction")}
    with pytest.raises(PermanentError) as refused:
        adapt(event)
    assert (refused.value.where, refused.value.call_id) == ("Call-Direction",
                                                            f"office-2:{A_LEG}")


def test_a_bad_timestamp_names_the_field():
    with pytest.raises(PermanentError) as refused:
        adapt({**CREATE, "Event-Date-Timestamp": "2019-12-03"})
    assert refused.value.where == "Event-Date-Timestamp"


def test_a_call_start_without_destination_names_the_field():
    with pytest.raises(PermanentError) as refused:
        adapt({**CREATE, "Caller-Destination-Number": ""})
    assert refused.value.where == "Caller-Destination-Number"


def test_a_header_that_is_not_text_names_the_header():
    with pytest.raises(PermanentError) as refused:
        adapt({**CREATE, "Caller-Caller-ID-Number": ["+79161234567"]})
    assert refused.value.where == "Caller-Caller-ID-Number"
