"""The `zadarma` dialect: Zadarma's cloud PBX webhooks, for ring-time routing.

Zadarma POSTs form data (`application/x-www-form-urlencoded`) to the URL set for "notifications
of calls in the PBX". At the start of an incoming call it sends `NOTIFY_START`: `event`,
`call_start` (the PBX's local time, `2026-11-27 10:00:00`), `pbx_call_id`, `caller_id` and
`called_did` (numbers in international format without the `+`: `79161234567`), and a
`Signature` header. Its answer to `NOTIFY_START` may redirect the call:
`{"redirect": "<extension>", "caller_name": "<name shown>"}`; an empty object leaves the call
to the PBX's own scenario. Other events (`NOTIFY_INTERNAL`, `NOTIFY_ANSWER`, `NOTIFY_END`,
`NOTIFY_OUT_START`, ...) route nothing.

The signature: Zadarma's PHP library computes `base64_encode(hash_hmac('sha1', caller_id .
called_did . call_start, $secret))`, where `hash_hmac` returns the HMAC-SHA1 as lower-case
hex: the header is the base64 of those 40 hex characters, not of the 20 raw bytes. The secret
is the account's API secret.

When the URL is first saved, Zadarma checks it with a GET carrying `zd_echo=<random>` and
expects the value back as the body (`echo_reply`).

The PBX call id is `pbx_call_id` (`in_...`), stable over all the events of the call. Times:
`call_start` names no time zone, so `started_at` is the time of receipt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

import phonenumbers

from services.intake.pbx import MAX_CALL_ID, MAX_NUMBER, Ignored, call_received, within
from shared.events import CallReceived
from shared.errors import PermanentError
from shared.phones import Number, is_extension, normalise

DIALECT = "zadarma"
EVENT_START = "NOTIFY_START"
SIGNATURE_HEADER = "Signature"
ECHO_PARAMETER = "zd_echo"
MAX_ECHO = 100


def signature(secret: str, params: Mapping[str, str]) -> str:
    """What Zadarma puts in `Signature` for a `NOTIFY_START` with these form fields."""
    signed = params.get("caller_id", "") + params.get("called_did", "") + params.get(
        "call_start", "")
    hex_digest = hmac.new(secret.encode("utf-8"), signed.encode("utf-8"),
                          hashlib.sha1).hexdigest()
    return base64.b64encode(hex_digest.encode("ascii")).decode("ascii")


def verify_signature(secret: str, params: Mapping[str, str], header: str | None) -> bool:
    """True when `header` is Zadarma's signature of this notification (constant-time)."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, params).encode("ascii"),
                               header.strip().encode("utf-8"))


def echo_reply(query: Mapping[str, str]) -> str | None:
    """The body Zadarma's URL check expects (the `zd_echo` value), or None when it is not one."""
    echo = query.get(ECHO_PARAMETER)
    if echo is None or len(echo) > MAX_ECHO or not echo.isprintable():
        return None
    return echo


def from_zadarma(params: Mapping[str, str], *, region: str, now: datetime, pbx: str
                 ) -> CallReceived | Ignored:
    """The call a `NOTIFY_START` announces; any other event is `Ignored`."""
    event = params.get("event", "").strip()
    if not event:
        raise PermanentError("no event: not a Zadarma notification", where="event",
                             dialect=DIALECT)
    if event != EVENT_START:
        return Ignored(DIALECT, event, "not the start of an incoming call")
    pbx_call_id = _text(params, "pbx_call_id", MAX_CALL_ID)
    if not pbx_call_id:
        raise PermanentError("NOTIFY_START without pbx_call_id: no call to name",
                             where="pbx_call_id", dialect=DIALECT)
    call_id = f"{pbx}:{pbx_call_id}"
    if not _text(params, "call_start", MAX_NUMBER, call_id):
        raise PermanentError("NOTIFY_START without call_start", where="call_start",
                             call_id=call_id, dialect=DIALECT)
    dialed_raw = _text(params, "called_did", MAX_NUMBER, call_id)
    if not dialed_raw:
        raise PermanentError("NOTIFY_START without called_did: the dialed number is unknown",
                             where="called_did", call_id=call_id, dialect=DIALECT)
    caller_raw = _text(params, "caller_id", MAX_NUMBER, call_id)
    dialed = international(dialed_raw, region).value or dialed_raw
    return call_received(call_id=call_id, pbx=pbx, caller_raw=caller_raw,
                         caller=international(caller_raw, region), dialed_raw=dialed,
                         region=region, started_at=now, now=now, dialect=DIALECT)


def international(raw: str, region: str) -> Number:
    """A number Zadarma writes without its `+` (`442079460000`); an extension or a number in
    another form is read as in any dialect."""
    plus = _with_plus(raw)
    if plus != raw:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(plus)):
                return normalise(plus, region)
        except phonenumbers.NumberParseException:
            pass
    return normalise(raw, region)


def _with_plus(raw: str) -> str:
    """`+` before a string of digits that is not an extension; an extension stays as it is."""
    return "+" + raw if raw.isascii() and raw.isdigit() and not is_extension(raw) else raw


def _text(params: Mapping[str, str], key: str, limit: int, call_id: str | None = None) -> str:
    return within(params.get(key, "").strip(), key, limit, dialect=DIALECT, call_id=call_id)
