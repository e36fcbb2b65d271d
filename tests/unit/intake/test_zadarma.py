"""The zadarma dialect: NOTIFY_START as Zadarma's webhook docs and PHP library describe it, and
its signature."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from services.intake.pbx import Ignored, call_received_id
from services.intake.zadarma import echo_reply, from_zadarma, signature, verify_signature
from shared.events import CallerStatus, CallReceived
from shared.errors import PermanentError
from shared.phones import is_extension

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SECRET = "zadarma-api-secret"
START = {"event": "NOTIFY_START", "call_start": "2026-11-27 10:00:00",
         "pbx_call_id": "in_0b3c5e7a9d1f", "caller_id": "79161234567",
         "called_did": "74951000000"}
# printf '%s' '79161234567749510000002026-11-27 10:00:00' \
#   | openssl dgst -sha1 -hmac zadarma-api-secret   -> 4a3d34d6ed7b4c721ebe2ce508d549745c2f9997
# and that hex text through base64: what PHP's base64_encode(hash_hmac('sha1', ...)) gives.
START_SIGNATURE = "NGEzZDM0ZDZlZDdiNGM3MjFlYmUyY2U1MDhkNTQ5NzQ1YzJmOTk5Nw=="


def adapt(params: dict[str, str]):
    return from_zadarma(params, region="RU", now=NOW, pbx="zadarma")


# --- the signature -------------------------------------------------------------------------

def test_the_signature_is_base64_of_the_hex_hmac_sha1_as_php_computes_it():
    signed = (START["caller_id"] + START["called_did"] + START["call_start"]).encode()
    hex_digest = hmac.new(SECRET.encode(), signed, hashlib.sha1).hexdigest()
    assert hex_digest == "4a3d34d6ed7b4c721ebe2ce508d549745c2f9997"
    assert base64.b64encode(hex_digest.encode()).decode() == START_SIGNATURE
    assert signature(SECRET, START) == START_SIGNATURE


def test_it_is_not_base64_of_the_raw_digest():
    signed = (START["caller_id"] + START["called_did"] + START["call_start"]).encode()
    raw = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha1).digest()).decode()
    assert not verify_signature(SECRET, START, raw)


def test_a_signed_notification_verifies():
    assert verify_signature(SECRET, START, START_SIGNATURE)
    assert verify_signature(SECRET, START, f"  {START_SIGNATURE}\n")


@pytest.mark.parametrize("field", ["caller_id", "called_did", "call_start"])
def test_a_changed_signed_field_does_not_verify(field):
    assert not verify_signature(SECRET, {**START, field: START[field] + "1"}, START_SIGNATURE)


def test_fields_outside_the_signature_do_not_change_it():
    assert verify_signature(SECRET, {**START, "pbx_call_id": "in_other"}, START_SIGNATURE)


@pytest.mark.parametrize(("secret", "header"), [
    (SECRET, None), (SECRET, ""), ("", START_SIGNATURE), ("other-secret", START_SIGNATURE),
    (SECRET, "ж" * 10),
])
def test_without_secret_or_signature_or_with_the_wrong_one_nothing_verifies(secret, header):
    assert not verify_signature(secret, START, header)


# --- the URL check -------------------------------------------------------------------------

def test_the_url_check_gets_its_echo_back():
    assert echo_reply({"zd_echo": "a1b2c3"}) == "a1b2c3"
    assert echo_reply({}) is None
    assert echo_reply({"zd_echo": "x" * 101}) is None
    assert echo_reply({"zd_echo": "a\r\nSet-Cookie: x"}) is None


# --- NOTIFY_START --------------------------------------------------------------------------

def test_notify_start_is_a_call_received_with_numbers_given_their_plus():
    call = adapt(START)
    assert isinstance(call, CallReceived)
    assert call.call_id == "zadarma:in_0b3c5e7a9d1f"
    assert call.event_id == call_received_id("zadarma:in_0b3c5e7a9d1f")
    assert (call.caller, call.caller_status, call.caller_raw) == (
        "+79161234567", CallerStatus.EXTERNAL, "79161234567")
    assert call.dialed == "+74951000000"
    assert (call.started_at, call.dialect) == (NOW, "zadarma")


def test_a_caller_from_another_country_is_read_in_international_format():
    assert adapt({**START, "caller_id": "442079460000"}).caller == "+442079460000"


def test_a_caller_already_written_with_a_plus_stays_so():
    assert adapt({**START, "caller_id": "+442079460000"}).caller == "+442079460000"


def test_an_extension_stays_an_extension():
    call = adapt({**START, "caller_id": "100"})
    assert (call.caller, call.caller_status) == ("100", CallerStatus.INTERNAL)


@pytest.mark.parametrize("extension", ["10", "123456"])
def test_every_extension_the_shared_rule_knows_stays_an_extension(extension):
    # Zadarma writes numbers without their `+`; what the extension rule calls an extension
    # is not given one, caller or dialed.
    assert is_extension(extension)
    call = adapt({**START, "caller_id": extension, "called_did": extension})
    assert (call.caller, call.caller_status, call.dialed) == (
        extension, CallerStatus.INTERNAL, extension)


@pytest.mark.parametrize("caller", ["", "anonymous"])
def test_a_withheld_caller_is_routed_like_any_unknown_caller(caller):
    call = adapt({**START, "caller_id": caller})
    assert call.caller is None and call.caller_status is CallerStatus.WITHHELD


def test_a_missing_caller_is_withheld_too():
    params = {k: v for k, v in START.items() if k != "caller_id"}
    assert adapt(params).caller_status is CallerStatus.WITHHELD


@pytest.mark.parametrize("event", ["NOTIFY_INTERNAL", "NOTIFY_ANSWER", "NOTIFY_END",
                                   "NOTIFY_OUT_START", "NOTIFY_RECORD"])
def test_other_events_route_nothing(event):
    ignored = adapt({**START, "event": event})
    assert isinstance(ignored, Ignored) and ignored.kind == event


@pytest.mark.parametrize("field", ["event", "pbx_call_id", "call_start", "called_did"])
def test_a_notify_start_without_a_field_it_needs_is_malformed_there(field):
    with pytest.raises(PermanentError) as refused:
        adapt({**START, field: ""})
    assert refused.value.where == field and refused.value.dialect == "zadarma"


def test_an_overlong_field_is_refused_where_it_is():
    with pytest.raises(PermanentError) as refused:
        adapt({**START, "caller_id": "7" * 101})
    assert refused.value.where == "caller_id"
    assert refused.value.call_id == "zadarma:in_0b3c5e7a9d1f"
