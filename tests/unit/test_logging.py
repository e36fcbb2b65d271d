"""Log lines: one JSON object each, with the call they are about, and no dialable numbers."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest

from shared.observability.logs import CALL_ID, CallContext, call_id_of, log_handler, mask_phones


@pytest.fixture
def lines():
    """A logger writing JSON lines of the `intake` service into a buffer."""
    buffer = io.StringIO()
    logger = logging.getLogger("tests.logging")
    handler = log_handler("intake", "json", buffer)
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    token = CALL_ID.set(None)
    yield logger, lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    CALL_ID.reset(token)
    logger.removeHandler(handler)


async def test_a_line_about_a_call_carries_its_call_id_and_a_masked_caller(lines):
    logger, read = lines
    # Given a message about a call arriving (the middleware sees the raw Kafka record)
    record = SimpleNamespace(value=b'{"call_id": "office-1:a1b2", "caller": "+79161234567"}')
    await CallContext(record, context=None).on_receive()
    # When a handler logs the caller's number
    logger.info("caller %s dialed %s", "+79161234567", "104")
    # Then the line is one JSON object with the call id, and the number masked
    (line,) = read()
    assert line["message"] == "caller +7916***4567 dialed 104"
    assert line["call_id"] == "office-1:a1b2"
    assert line["service"] == "intake"
    assert line["level"] == "INFO" and line["logger"] == "tests.logging"
    assert line["time"].startswith("20")


async def test_a_line_about_no_call_has_no_call_id(lines):
    logger, read = lines
    await CallContext(SimpleNamespace(value=b"not json"), context=None).on_receive()
    logger.warning("broker away")
    (line,) = read()
    assert "call_id" not in line and line["level"] == "WARNING"


def test_numbers_in_a_traceback_are_masked_too(lines):
    logger, read = lines
    try:
        raise ValueError("bad caller 8 (916) 123-45-67")
    except ValueError:
        logger.exception("failed")
    (line,) = read()
    assert "123-45-67" not in json.dumps(line)
    assert "8916***4567" in line["exc_info"]


@pytest.mark.parametrize(("text", "masked"), [
    ("+79161234567", "+7916***4567"),
    ("from +7 916 123-45-67.", "from +7916***4567."),
    ("caller=8 (916) 123-45-67", "caller=8916***4567"),
    ("89161234567", "8916***4567"),
    ("+14155550123 and +442071838750", "+1415***0123 and +4420***8750"),
])
def test_phone_numbers_are_masked(text, masked):
    assert mask_phones(text) == masked


@pytest.mark.parametrize("text", [
    "extension 104",
    "occurred_at 2026-11-27 10:00:00.123456",
    "2026-11-27T10:00:00Z",
    "event 0b6c2f8e-3f57-5d2b-9a43-c0d1e7f2a9b4",
    "event 12345678-1234-5678-9abc-123456789012",
    "kafka 192.168.100.200:9092, offset 1234567",
    "deal 1500000.00 RUB",
])
def test_what_is_not_a_phone_number_stays(text):
    assert mask_phones(text) == text


def test_the_call_id_of_raw_and_pipeline_events():
    assert call_id_of(b'{"pbx": "office-1", "call_id": "a1b2"}') == "office-1:a1b2"
    assert call_id_of(b'{"event_type": "CallRouted", "call_id": "office-1:a1b2", '
                      b'"pbx": "office-1"}') == "office-1:a1b2"
    assert call_id_of(b'{"call_id": 5}') is None
    assert call_id_of(b"Event: Newchannel\r\n") is None
    assert call_id_of(None) is None


def test_text_lines_for_a_terminal():
    buffer = io.StringIO()
    logger = logging.getLogger("tests.logging.text")
    logger.addHandler(log_handler("router", "text", buffer))
    logger.propagate = False
    token = CALL_ID.set("office-1:zz")
    try:
        logger.warning("from %s", "+79161234567")
    finally:
        CALL_ID.reset(token)
    assert buffer.getvalue().rstrip().endswith(
        "WARNING router tests.logging.text [office-1:zz]: from +7916***4567")


def test_the_access_line_masks_caller_numbers_in_any_encoding():
    from shared.observability.logs import mask_request_target

    assert mask_request_target("/v1/callers/%2B79161234567") == "/v1/callers/+7916***4567"
    assert mask_request_target("/v1/callers/8%20916%20123-45-67").count("***") == 1
    masked = mask_request_target("/v1/route/asterisk?caller=%2B79161234567&call_id=a1&dialed=101")
    assert "4567" in masked and "1234567" not in masked
    assert masked.endswith("&call_id=a1&dialed=101")
    lead = "/v1/leads/3f2b8c1e-6d4a-4b7e-9c12-5a8e0f1d2c3b/keep"
    assert mask_request_target(lead) == lead
    assert mask_request_target("/health/ready") == "/health/ready"


def test_the_access_line_hides_an_invitation_links_token():
    from shared.access.credentials import INVITATION_TOKEN, new_token
    from shared.observability.logs import mask_request_target

    token = new_token(INVITATION_TOKEN)
    assert mask_request_target(f"/invite/{token}") == "/invite/sbv_***"
    assert mask_request_target(f"/v1/invitations/{token}?lang=en") == (
        "/v1/invitations/sbv_***?lang=en")
