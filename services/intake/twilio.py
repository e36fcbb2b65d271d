"""The `twilio` dialect: Twilio's voice webhooks (the incoming-call request and status callbacks).

The payload is the form-encoded body Twilio POSTs (`application/x-www-form-urlencoded`, UTF-8):
`CallSid`, `AccountSid`, `From`, `To`, `CallStatus`, `Direction`, and on status callbacks
`Timestamp`. The PBX call id is the `CallSid`. A parameter sent twice counts with its first
value. The signature (`X-Twilio-Signature`) is checked before, by `signing.verify_twilio`.

| Direction | CallStatus | result |
|---|---|---|
| inbound | ringing (the incoming-call request) | `CallReceived` |
| inbound | in-progress (Twilio answered: TwiML runs) | `CallLifecycle` answered |
| inbound | completed, busy, failed, no-answer, canceled | `CallLifecycle` hung_up (1) |
| inbound | queued, initiated, any other | `Ignored` |
| outbound-api, outbound-dial (a `<Dial>` leg), any other | any | `Ignored` |
| inbound from `client:<identity>` to an outside number | any | `Ignored`: outbound |

(1) detail: the status.

A `client:<identity>` caller is one of our own Voice SDK users: Twilio reports their calls as
inbound. Calling an outside number, they are calling out; calling an extension or another
client, it is an internal call (caller_status internal, the caller `client:<identity>`).

Withheld numbers: Twilio sends `anonymous`, an empty `From`, or a number that spells the
reason on a phone keypad (see `WITHHELD_NUMBERS`); those are withheld callers, not callers from
Lesotho (+266).

Times: `Timestamp` (RFC 2822, on status callbacks) is `started_at` and the `occurred_at` of
lifecycle events; the time of receipt when absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from services.intake.pbx import (
    MAX_CALL_ID,
    MAX_NUMBER,
    Adapted,
    Ignored,
    call_lifecycle,
    call_received,
    within,
)
from shared.events import CallerStatus, CallLifecycle, CallReceived, LifecyclePhase
from shared.errors import PermanentError
from shared.phones import Number, normalise

DIALECT = "twilio"

# What Twilio puts in `From` when the caller withheld the number: the reason, typed on a keypad.
WITHHELD_NUMBERS = {
    "+266696687": "ANONYMOUS",
    "+7378742833": "RESTRICTED",
    "+2562533": "BLOCKED",
    "+8656696": "UNKNOWN",
    "+86282452253": "UNAVAILABLE",
}
CLIENT_PREFIX = "client:"

ANSWERED_STATUSES = frozenset({"in-progress"})
ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def from_twilio(raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted:
    params = parse_form(raw)
    call_sid = _limited(params, "CallSid", MAX_CALL_ID)
    if not call_sid:
        raise PermanentError("no CallSid: not a Twilio voice webhook", where="CallSid",
                             dialect=DIALECT)
    call_id = f"{pbx}:{call_sid}"
    status = _required(params, "CallStatus", call_id).lower()
    skipped = _not_inbound(params, call_id) or _our_user_calling_out(params, region, call_id)
    if skipped:
        return Ignored(DIALECT, status, skipped)
    if status == "ringing":
        return _call_received(params, call_id, region=region, now=now, pbx=pbx)
    if status in ANSWERED_STATUSES:
        return _lifecycle(params, call_id, LifecyclePhase.ANSWERED, None, now=now, pbx=pbx)
    if status in ENDED_STATUSES:
        return _lifecycle(params, call_id, LifecyclePhase.HUNG_UP, status, now=now, pbx=pbx)
    return Ignored(DIALECT, status, "not a call start, answer or hang-up")


# --- parsing -------------------------------------------------------------------------------

def parse_form(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PermanentError(f"not UTF-8 form data: {e}", dialect=DIALECT) from e
    params: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        params.setdefault(key, value)
    return params


def _limited(params: dict[str, str], key: str, limit: int, call_id: str | None = None) -> str:
    return within(params.get(key, "").strip(), key, limit, dialect=DIALECT, call_id=call_id)


def _required(params: dict[str, str], key: str, call_id: str) -> str:
    value = params.get(key, "").strip()
    if not value:
        raise PermanentError(f"no {key}", where=key, call_id=call_id, dialect=DIALECT)
    return value


def _event_time(params: dict[str, str], now: datetime, call_id: str) -> datetime:
    """When Twilio saw the moment (`Timestamp`), else the time of receipt."""
    stamp = params.get("Timestamp", "").strip()
    if not stamp:
        return now
    try:
        moment = parsedate_to_datetime(stamp)
    except (TypeError, ValueError, IndexError, OverflowError) as e:
        raise PermanentError(f"Timestamp {stamp!r} is not an RFC 2822 date", where="Timestamp",
                             call_id=call_id, dialect=DIALECT) from e
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- which way -----------------------------------------------------------------------------

def _not_inbound(params: dict[str, str], call_id: str) -> str | None:
    direction = _required(params, "Direction", call_id)
    if direction.lower() != "inbound":
        return f"a {direction} call: not one coming in"
    return None


def _caller(params: dict[str, str], region: str, call_id: str) -> tuple[str, Number]:
    """(From as sent, what it is)."""
    raw = _limited(params, "From", MAX_NUMBER, call_id)
    if raw in WITHHELD_NUMBERS:
        return raw, Number(None, CallerStatus.WITHHELD)
    if raw.lower().startswith(CLIENT_PREFIX):
        return raw, Number(raw, CallerStatus.INTERNAL)
    return raw, normalise(raw, region)


def _our_user_calling_out(params: dict[str, str], region: str, call_id: str) -> str | None:
    if not params.get("From", "").strip().lower().startswith(CLIENT_PREFIX):
        return None
    to = params.get("To", "").strip()
    if normalise(to, region).status is CallerStatus.EXTERNAL:
        return f"one of our Voice SDK users calling out ({to})"
    return None


# --- results -------------------------------------------------------------------------------

def _call_received(params: dict[str, str], call_id: str, *, region: str, now: datetime,
                   pbx: str) -> CallReceived:
    caller_raw, caller = _caller(params, region, call_id)
    _required(params, "To", call_id)
    dialed_raw = _limited(params, "To", MAX_NUMBER, call_id)
    return call_received(call_id=call_id, pbx=pbx, caller_raw=caller_raw, caller=caller,
                         dialed_raw=dialed_raw, region=region,
                         started_at=_event_time(params, now, call_id), now=now, dialect=DIALECT)


def _lifecycle(params: dict[str, str], call_id: str, phase: LifecyclePhase, detail: str | None,
               *, now: datetime, pbx: str) -> CallLifecycle:
    return call_lifecycle(call_id=call_id, phase=phase,
                          occurred_at=_event_time(params, now, call_id), pbx=pbx,
                          dialect=DIALECT, detail=detail)
