"""The `freeswitch` dialect: FreeSWITCH event-socket events in JSON format.

One event per payload, as a JSON object of headers (what `event json CHANNEL_CREATE ...` on
the event socket delivers). The plain-text event format is refused: its values are URL-encoded
(`%2B7916...`), and JSON values are not, so one format keeps numbers unambiguous. Header names
are matched whatever their case.

Which call: each leg of a call is a channel with its own `Unique-ID`; the caller's leg is the
one the call began with (`Channel-Call-UUID` = `Unique-ID`, or no `Channel-Call-UUID`) and its
direction is `inbound` (it came in to FreeSWITCH). The PBX call id is that leg's `Unique-ID`.
Legs FreeSWITCH creates to ring someone are `outbound`; `loopback/` channels are dialplan
plumbing.

Which way: the caller's dialplan context tells whose the caller is. FreeSWITCH's default
configuration gives registered users (our phones) the context `default` and sends calls from
gateways and unknown parties to `public`. A call is ours going out only when it is in `default`
*and* its caller id is an extension (a gateway wrongly put in `default` still brings its calls
in): dialing an extension is an internal call, anything else (an outside number, a feature
code such as `*98`) is outbound. The caller's profile (`Caller-Context`,
`Caller-Caller-ID-Number`, `Caller-Destination-Number`) is on every channel event, so the same
rule judges lifecycle events too.

| Event-Name | condition | result |
|---|---|---|
| CHANNEL_CREATE | caller's leg (1) | `CallReceived` |
| CHANNEL_ANSWER | caller's leg (1) | `CallLifecycle` answered |
| CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE | caller's leg (1) | `CallLifecycle` hung_up (2) |
| those three | any other leg, or our phone dialing out | `Ignored` |
| any other event (3) | | `Ignored` |
| no `Event-Name` | | `PermanentError` |

(1) `Call-Direction: inbound`, not a further leg, not `loopback/`, not our phone dialing out.
(2) detail: `Hangup-Cause`. (3) CHANNEL_STATE, CHANNEL_CALLSTATE, CHANNEL_PROGRESS,
CHANNEL_BRIDGE, CHANNEL_EXECUTE, CHANNEL_DESTROY, HEARTBEAT, CUSTOM (sofia::register), API,
BACKGROUND_JOB...

"Answered" means the caller's leg was answered, by a person or by an IVR. Both hang-up
events of a call yield one `CallLifecycle` id. Caller ids: `0000000000` is what
FreeSWITCH puts when it knows none, and a caller who asked for privacy
(`Caller-Privacy-Hide-Number: true`) is withheld: their number is not passed on.

Times: `Event-Date-Timestamp` (microseconds since the epoch) is `started_at` and the
`occurred_at` of lifecycle events; the time of receipt when absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.intake.pbx import (
    MAX_CALL_ID,
    MAX_NUMBER,
    Adapted,
    Ignored,
    VendorEvent,
    by_lower_case_name,
    call_lifecycle,
    call_received,
    parse_json_object,
)
from shared.events import CallerStatus, CallLifecycle, LifecyclePhase
from shared.errors import PermanentError
from shared.phones import Number, normalise

DIALECT = "freeswitch"

PHONE_CONTEXTS = frozenset({"default"})
NO_CALLER_ID = "0000000000"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECONDS = re.compile(r"[0-9]{1,17}")


@dataclass(frozen=True)
class FsEvent(VendorEvent):
    """One FreeSWITCH event: its headers by lower-case name."""

    dialect: str = DIALECT

    @property
    def name(self) -> str:
        return self.text("Event-Name")


def from_freeswitch(raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted:
    event = parse_event(raw)
    name = event.name
    if not name:
        raise PermanentError("no Event-Name: not a FreeSWITCH event", where="Event-Name",
                             dialect=DIALECT)
    on_event = _ON_EVENT.get(name.upper())
    if on_event is None:
        return Ignored(DIALECT, name, "not a call start, answer or hang-up")
    call_id = _call_id(event, pbx)
    skipped = (_not_the_callers_leg(event, call_id)
               or _our_phone_dialing_out(event, region, call_id))
    if skipped:
        return Ignored(DIALECT, name, skipped)
    return on_event(event, call_id, region=region, now=now, pbx=pbx)


# --- parsing -------------------------------------------------------------------------------

def parse_event(raw: bytes) -> FsEvent:
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if not text.startswith(("{", "[")):
        raise PermanentError("not JSON: send FreeSWITCH events in JSON format (`event json`), "
                             "not plain text", dialect=DIALECT)
    headers = parse_json_object(text, DIALECT, numbers_as_text=True)
    return FsEvent(by_lower_case_name(headers.items()))


def _call_id(event: FsEvent, pbx: str) -> str:
    unique_id = event.limited("Unique-ID", MAX_CALL_ID)
    if not unique_id:
        raise PermanentError(f"{event.name} without Unique-ID: no call to name",
                             where="Unique-ID", dialect=DIALECT)
    return f"{pbx}:{unique_id}"


def _event_time(event: FsEvent, now: datetime, call_id: str) -> datetime:
    """When FreeSWITCH raised the event (`Event-Date-Timestamp`), else the time of receipt."""
    stamp = event.text("Event-Date-Timestamp")
    if not stamp:
        return now
    if not _MICROSECONDS.fullmatch(stamp):
        raise PermanentError(f"Event-Date-Timestamp {stamp!r} is not microseconds since the "
                             "epoch", where="Event-Date-Timestamp", call_id=call_id,
                             dialect=DIALECT)
    return _EPOCH + timedelta(microseconds=int(stamp))


# --- which leg, which way ------------------------------------------------------------------

def _not_the_callers_leg(event: FsEvent, call_id: str) -> str | None:
    """Why this event is not about the caller's leg, or None when it is."""
    direction = event.text("Call-Direction") or event.text("Caller-Direction")
    if not direction:
        raise PermanentError(f"{event.name} without Call-Direction", where="Call-Direction",
                             call_id=call_id, dialect=DIALECT)
    if direction.lower() != "inbound":
        return f"an {direction} leg: one FreeSWITCH created to ring someone"
    if event.text("Channel-Name").lower().startswith("loopback/"):
        return "a loopback channel: dialplan plumbing, not a caller"
    call_uuid = event.text("Channel-Call-UUID")
    if call_uuid and call_uuid != event.text("Unique-ID"):
        return "a further leg of a call already started"
    return None


def _caller(event: FsEvent, region: str, call_id: str) -> tuple[str, Number]:
    """(caller id as sent, what it is)."""
    raw = event.limited("Caller-Caller-ID-Number", MAX_NUMBER, call_id)
    if event.text("Caller-Privacy-Hide-Number").lower() == "true":
        # The caller asked for their number to be hidden: it is not passed on.
        return "", Number(None, CallerStatus.WITHHELD)
    if raw == NO_CALLER_ID:
        return raw, Number(None, CallerStatus.WITHHELD)
    return raw, normalise(raw, region)


def _our_phone_dialing_out(event: FsEvent, region: str, call_id: str) -> str | None:
    """A call is one of our own phones' when it is in a phone context from an extension."""
    context = event.text("Caller-Context").lower()
    _, caller = _caller(event, region, call_id)
    if context not in PHONE_CONTEXTS or caller.status is not CallerStatus.INTERNAL:
        return None
    dialed = event.text("Caller-Destination-Number")
    if normalise(dialed, region).status is CallerStatus.INTERNAL:
        return None
    return f"one of our phones dialing out ({dialed or 'nothing'})"


# --- results -------------------------------------------------------------------------------

def _on_create(event: FsEvent, call_id: str, *, region: str, now: datetime,
               pbx: str) -> Adapted:
    caller_raw, caller = _caller(event, region, call_id)
    dialed_raw = event.limited("Caller-Destination-Number", MAX_NUMBER, call_id)
    if not dialed_raw:
        raise PermanentError("CHANNEL_CREATE without Caller-Destination-Number: the dialed "
                             "number is unknown", where="Caller-Destination-Number",
                             call_id=call_id, dialect=DIALECT)
    return call_received(call_id=call_id, pbx=pbx, caller_raw=caller_raw, caller=caller,
                         dialed_raw=dialed_raw, region=region,
                         started_at=_event_time(event, now, call_id), now=now, dialect=DIALECT)


def _on_answer(event: FsEvent, call_id: str, *, region: str, now: datetime,
               pbx: str) -> Adapted:
    return _lifecycle(event, call_id, LifecyclePhase.ANSWERED, None, now=now, pbx=pbx)


def _on_hangup(event: FsEvent, call_id: str, *, region: str, now: datetime,
               pbx: str) -> Adapted:
    detail = event.text("Hangup-Cause") or None
    return _lifecycle(event, call_id, LifecyclePhase.HUNG_UP, detail, now=now, pbx=pbx)


def _lifecycle(event: FsEvent, call_id: str, phase: LifecyclePhase, detail: str | None, *,
               now: datetime, pbx: str) -> CallLifecycle:
    return call_lifecycle(call_id=call_id, phase=phase,
                          occurred_at=_event_time(event, now, call_id), pbx=pbx,
                          dialect=DIALECT, detail=detail)


_ON_EVENT = {
    "CHANNEL_CREATE": _on_create,
    "CHANNEL_ANSWER": _on_answer,
    "CHANNEL_HANGUP": _on_hangup,
    "CHANNEL_HANGUP_COMPLETE": _on_hangup,
}
