"""The twilio dialect, on form bodies shaped as Twilio's voice-webhook docs show them (the
incoming-call request and the call status callbacks)."""

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from services.intake.pbx import Ignored, call_received_id
from services.intake.twilio import WITHHELD_NUMBERS, from_twilio
from shared.events import CallerStatus, CallLifecycle, CallReceived, LifecyclePhase
from shared.errors import PermanentError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PBX = "twilio-main"
SID = "CA5f8b1e3c9d2a4b6c8e0f1a2b3c4d5e6f"

# The request Twilio makes when someone calls our number.
INCOMING = {
    "AccountSid": "AC0123456789abcdef0123456789abcdef", "ApiVersion": "2010-04-01",
    "CallSid": SID, "CallStatus": "ringing", "Called": "+74951000000", "CalledCountry": "RU",
    "Caller": "+79161234567", "CallerCountry": "RU", "Direction": "inbound",
    "From": "+79161234567", "FromCountry": "RU", "To": "+74951000000", "ToCountry": "RU",
}


def adapt(params: dict[str, str]):
    return from_twilio(urlencode(params).encode(), region="RU", now=NOW, pbx=PBX)


def status_callback(status: str, **extra: str) -> dict[str, str]:
    return {**INCOMING, "CallStatus": status, "Timestamp": "Fri, 27 Nov 2026 10:05:00 +0000",
            "SequenceNumber": "0", **extra}


# --- call starts ---------------------------------------------------------------------------

def test_an_incoming_ringing_call_is_a_call_received():
    call = adapt(INCOMING)
    assert isinstance(call, CallReceived)
    assert call.call_id == f"twilio-main:{SID}"
    assert call.event_id == call_received_id(f"twilio-main:{SID}")
    assert (call.caller, call.caller_status, call.dialed) == (
        "+79161234567", CallerStatus.EXTERNAL, "+74951000000")
    assert call.started_at == NOW and call.dialect == "twilio"


def test_a_retried_webhook_is_the_same_event():
    assert adapt(INCOMING).event_id == adapt({**INCOMING, "SequenceNumber": "1"}).event_id


@pytest.mark.parametrize("marker", sorted(WITHHELD_NUMBERS) + ["anonymous", "Anonymous", ""])
def test_withheld_callers_whatever_twilio_writes(marker):
    call = adapt({**INCOMING, "From": marker, "Caller": marker})
    assert call.caller is None and call.caller_status is CallerStatus.WITHHELD
    assert call.caller_raw == marker


def test_a_missing_from_is_withheld():
    params = {key: value for key, value in INCOMING.items() if key != "From"}
    assert adapt(params).caller_status is CallerStatus.WITHHELD


def test_outbound_calls_are_ignored_whatever_their_status():
    for direction in ("outbound-api", "outbound-dial"):
        for status in ("queued", "ringing", "in-progress", "completed"):
            result = adapt({**INCOMING, "Direction": direction, "CallStatus": status})
            assert isinstance(result, Ignored) and direction in result.reason


def test_a_voice_sdk_user_calling_an_outside_number_is_calling_out():
    result = adapt({**INCOMING, "From": "client:anna", "To": "+79161234567"})
    assert isinstance(result, Ignored) and "calling out" in result.reason


@pytest.mark.parametrize("to", ["104", "client:boris"])
def test_a_voice_sdk_user_calling_a_colleague_is_an_internal_call(to):
    call = adapt({**INCOMING, "From": "client:anna", "To": to})
    assert isinstance(call, CallReceived)
    assert (call.caller, call.caller_status) == ("client:anna", CallerStatus.INTERNAL)
    assert call.dialed == to


# --- lifecycle -----------------------------------------------------------------------------

def test_in_progress_is_the_call_answered_at_twilios_time():
    moment = adapt(status_callback("in-progress"))
    assert isinstance(moment, CallLifecycle)
    assert (moment.call_id, moment.phase) == (f"twilio-main:{SID}", LifecyclePhase.ANSWERED)
    assert moment.occurred_at == datetime(2026, 11, 27, 10, 5, tzinfo=UTC)


@pytest.mark.parametrize("status", ["completed", "busy", "failed", "no-answer", "canceled"])
def test_final_statuses_are_the_call_hung_up_with_the_status(status):
    moment = adapt(status_callback(status, CallDuration="42"))
    assert isinstance(moment, CallLifecycle)
    assert (moment.phase, moment.detail) == (LifecyclePhase.HUNG_UP, status)


@pytest.mark.parametrize("status", ["queued", "initiated", "something-new"])
def test_other_statuses_are_ignored(status):
    result = adapt(status_callback(status))
    assert isinstance(result, Ignored) and result.kind == status


def test_the_timestamp_of_a_ringing_callback_is_the_start():
    call = adapt(status_callback("ringing"))
    assert call.started_at == datetime(2026, 11, 27, 10, 5, tzinfo=UTC)


# --- refusals ------------------------------------------------------------------------------

def test_without_call_sid_it_is_not_a_voice_webhook():
    params = {key: value for key, value in INCOMING.items() if key != "CallSid"}
    with pytest.raises(PermanentError) as refused:
        adapt(params)
    assert (refused.value.where, refused.value.dialect) == ("CallSid", "twilio")


@pytest.mark.parametrize("field", ["CallStatus", "Direction", "To"])
def test_a_missing_field_is_named_with_the_call(field):
    params = {key: value for key, value in INCOMING.items() if key != field}
    with pytest.raises(PermanentError) as refused:
        adapt(params)
    assert (refused.value.where, refused.value.call_id) == (field, f"twilio-main:{SID}")


def test_a_json_body_is_not_a_twilio_form():
    with pytest.raises(PermanentError) as refused:
        from_twilio(b'{"CallSid": "CA1"}', region="RU", now=NOW, pbx=PBX)
    assert refused.value.where == "CallSid"


def test_a_body_that_is_not_utf8_is_refused():
    with pytest.raises(PermanentError):
        from_twilio(b"CallSid=\xff\xfe", region="RU", now=NOW, pbx=PBX)


def test_a_bad_timestamp_names_the_field():
    with pytest.raises(PermanentError) as refused:
        adapt(status_callback("completed", Timestamp="the other day"))
    assert refused.value.where == "Timestamp"
