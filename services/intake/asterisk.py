"""The `asterisk` dialect: Asterisk Manager Interface (AMI) events, Asterisk 12 and later.

One AMI event per payload, either as AMI writes it (`Key: Value` lines, CRLF or LF, ended by a
blank line) or as a JSON object with the same keys. A payload holding several events is
refused: the connector sends each event as its own message. Keys are matched whatever their
case (Asterisk 1.8 wrote `UniqueID`, 12 and later write `Uniqueid`); a repeated key (such as
`ChanVariable`) counts with its first value.

Which call: every channel of a call carries `Linkedid`, the Uniqueid of the call's oldest
channel. The PBX call id is the Linkedid (the Uniqueid when there is none), so all events of a
call name the same `<pbx>:<Linkedid>`, and a `Newchannel` and a `DialBegin` of one call yield
the same `CallReceived` id. The caller's channel is the call's first one (Uniqueid = Linkedid);
the other channels are the legs the PBX created to ring someone, or `Local/` channels
(dialplan plumbing, never a device).

Which way: the dialplan context a call starts in tells whose the caller is. Our own phones
start in a *phone context*: `from-internal` (FreePBX, Issabel; also `-xfer`, `-noxfer`) or
`internal` (the res_pjsip examples of the Asterisk docs). Any other context (`from-trunk`,
`from-pstn`, `from-external`, `from-did-direct`, `public`, `default`, one of the site's own)
is taken as a call coming in: an inbound call lost costs more than one stray lead. A call is
ours going out only when it starts in a phone context *and* its caller id is an extension,
so a trunk wrongly put in a phone context still brings its calls in.

| event | condition | result |
|---|---|---|
| Newchannel, DialBegin | caller's channel, not one of our phones | `CallReceived` |
| Newchannel, DialBegin | caller's channel, our phone, to an extension | `CallReceived`, internal |
| Newchannel, DialBegin | caller's channel, our phone dialing anything else | `Ignored`: outbound |
| Newchannel, DialBegin | a further channel of the call, a `Local/` channel | `Ignored` |
| DialBegin | no calling channel (an AMI Originate) | `Ignored` |
| DialBegin | caller in FreePBX's outbound routing (1) | `Ignored`: outbound |
| Newstate | caller's channel, `ChannelStateDesc: Up` | `CallLifecycle` answered |
| Hangup | caller's channel | `CallLifecycle` hung_up (2) |
| Newstate, Hangup | any other channel (3) | `Ignored` |
| any other event (4) | | `Ignored` |
| `Response:`, no `Event:` | a reply to an action | `Ignored` |
| no `Event:` | | `PermanentError` |

(1) `macro-dialout-trunk`, `outbound-allroutes`, `outrt-N`: by then FreePBX has set the
company's number as caller id. (2) detail: `Cause-txt`, else `Cause`. (3) a ring-group leg
that stopped ringing is no hang-up of the call. (4) BridgeEnter (also parking and
conferences), DialEnd, NewExten, VarSet, NewCallerid, FullyBooted, PeerStatus, ContactStatus,
RTCPSent, Cdr, Cel...

"Answered" means the caller's channel was answered, by a person or by an IVR, as in the other
dialects. Lifecycle events are not judged by direction: their Context and Exten are where the
dialplan has moved on to, not where the call began; one of an outbound call's names a call
that has no `CallReceived`.

Known limit: a channel the PBX originates (AMI Originate, call files) is the first channel of
its call and is judged by the same rule, so click-to-call may yield a `CallReceived`.

Times: with `timestampevents = yes` in manager.conf every event has `Timestamp` (Unix seconds);
it is used as `started_at`, and as `occurred_at` of lifecycle events; else the time of receipt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
from shared.events import CallerStatus, LifecyclePhase
from shared.errors import PermanentError
from shared.phones import Number, normalise

DIALECT = "asterisk"

PHONE_CONTEXTS = frozenset({"from-internal", "from-internal-xfer", "from-internal-noxfer",
                            "internal"})
OUTBOUND_ROUTING_CONTEXTS = frozenset({"macro-dialout-trunk", "outbound-allroutes"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIX_SECONDS = re.compile(r"([0-9]{1,11})(?:\.([0-9]{1,6}))?")


@dataclass(frozen=True)
class AmiEvent(VendorEvent):
    """One AMI event: its fields by lower-case key."""

    dialect: str = DIALECT

    @property
    def name(self) -> str:
        return self.text("Event")

    @property
    def pbx_call_id(self) -> str:
        return self.text("Linkedid") or self.text("Uniqueid")

    @property
    def is_callers_channel(self) -> bool:
        linked = self.text("Linkedid")
        return not linked or linked == self.text("Uniqueid")


def from_asterisk(raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted:
    event = parse_ami(raw)
    name = event.name
    if not name:
        if event.text("Response"):
            return Ignored(DIALECT, "Response", "a reply to an AMI action, not an event")
        raise PermanentError("no Event: field; not an AMI event", where="Event", dialect=DIALECT)
    on_event = _ON_EVENT.get(name.lower())
    if on_event is None:
        return Ignored(DIALECT, name, "not a call start, answer or hang-up")
    return on_event(event, region=region, now=now, pbx=pbx)


# --- parsing -------------------------------------------------------------------------------

def parse_ami(raw: bytes) -> AmiEvent:
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    fields: Iterable[tuple[str, object]]
    if text.startswith(("{", "[")):
        fields = parse_json_object(text, DIALECT, numbers_as_text=True).items()
    else:
        fields = _key_value_lines(text)
    return AmiEvent(by_lower_case_name(fields))


def _key_value_lines(text: str) -> list[tuple[str, object]]:
    fields: list[tuple[str, object]] = []
    for number, line in enumerate(re.split(r"\r?\n", text), start=1):
        if not line.strip():
            raise PermanentError("several AMI events in one payload; send one per message",
                                 where=f"line {number}", dialect=DIALECT)
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            raise PermanentError(f"line {number} is not `Key: Value`", where=f"line {number}",
                                 dialect=DIALECT)
        fields.append((key.strip(), value.strip()))
    return fields


def _event_time(event: AmiEvent, now: datetime, call_id: str) -> datetime:
    """When the PBX saw the event (`Timestamp`), else the time of receipt."""
    stamp = event.text("Timestamp")
    if not stamp:
        return now
    match = _UNIX_SECONDS.fullmatch(stamp)
    if match is None:
        raise PermanentError(f"Timestamp {stamp!r} is not Unix seconds", where="Timestamp",
                             call_id=call_id, dialect=DIALECT)
    seconds, fraction = match.groups()
    return _EPOCH + timedelta(seconds=int(seconds),
                              microseconds=int((fraction or "0").ljust(6, "0")))


def _call_id(event: AmiEvent, pbx: str) -> str:
    key = "Linkedid" if event.text("Linkedid") else "Uniqueid"
    pbx_call_id = event.limited(key, MAX_CALL_ID)
    if not pbx_call_id:
        raise PermanentError(f"{event.name} without Uniqueid: no call to name", where="Uniqueid",
                             dialect=DIALECT)
    return f"{pbx}:{pbx_call_id}"


# --- call starts ---------------------------------------------------------------------------

def _on_call_start(event: AmiEvent, *, region: str, now: datetime, pbx: str) -> Adapted:
    name = event.name
    if name.lower() == "dialbegin" and not event.pbx_call_id:
        return Ignored(DIALECT, name, "a dial with no calling channel (an Originate)")
    call_id = _call_id(event, pbx)
    skipped = _not_a_call_start(event)
    if skipped:
        return Ignored(DIALECT, name, skipped)
    caller_raw = event.limited("CallerIDNum", MAX_NUMBER, call_id)
    dialed_raw = event.limited("Exten", MAX_NUMBER, call_id)
    caller = normalise(caller_raw, region)
    if _from_our_phone(event.text("Context"), caller) and not _is_extension(dialed_raw, region):
        return Ignored(DIALECT, name, f"one of our phones dialing out ({dialed_raw or 'nothing'})")
    if not dialed_raw:
        raise PermanentError(f"{name} without Exten: the dialed number is unknown", where="Exten",
                             call_id=call_id, dialect=DIALECT)
    return call_received(call_id=call_id, pbx=pbx, caller_raw=caller_raw, caller=caller,
                         dialed_raw=dialed_raw, region=region,
                         started_at=_event_time(event, now, call_id), now=now, dialect=DIALECT)


def _not_a_call_start(event: AmiEvent) -> str | None:
    """Why this channel event does not start a call, or None when it does."""
    if event.text("Channel").lower().startswith("local/"):
        return "a Local channel: dialplan plumbing, not a caller"
    if not event.is_callers_channel:
        return "a further channel of a call already started (a leg ringing someone)"
    context = event.text("Context").lower()
    if context in OUTBOUND_ROUTING_CONTEXTS or context.startswith("outrt-"):
        return f"outbound routing ({event.text('Context')})"
    return None


def _from_our_phone(context: str, caller: Number) -> bool:
    """A call is one of our own phones' when it starts in a phone context from an extension."""
    return context.lower() in PHONE_CONTEXTS and caller.status is CallerStatus.INTERNAL


def _is_extension(dialed: str, region: str) -> bool:
    return normalise(dialed, region).status is CallerStatus.INTERNAL


# --- lifecycle -----------------------------------------------------------------------------

def _on_state_change(event: AmiEvent, *, region: str, now: datetime, pbx: str) -> Adapted:
    answered = (event.text("ChannelStateDesc").lower() == "up"
                or event.text("ChannelState") == "6")
    if not answered:
        return Ignored(DIALECT, event.name, f"channel state {event.text('ChannelStateDesc')!r}")
    return _lifecycle(event, LifecyclePhase.ANSWERED, None, now=now, pbx=pbx)


def _on_hangup(event: AmiEvent, *, region: str, now: datetime, pbx: str) -> Adapted:
    detail = event.text("Cause-txt") or event.text("Cause") or None
    return _lifecycle(event, LifecyclePhase.HUNG_UP, detail, now=now, pbx=pbx)


def _lifecycle(event: AmiEvent, phase: LifecyclePhase, detail: str | None, *, now: datetime,
               pbx: str) -> Adapted:
    call_id = _call_id(event, pbx)
    if event.text("Channel").lower().startswith("local/") or not event.is_callers_channel:
        return Ignored(DIALECT, event.name, "not the caller's channel")
    return call_lifecycle(call_id=call_id, phase=phase,
                          occurred_at=_event_time(event, now, call_id), pbx=pbx,
                          dialect=DIALECT, detail=detail)


_ON_EVENT = {
    "newchannel": _on_call_start,
    "dialbegin": _on_call_start,
    "newstate": _on_state_change,
    "hangup": _on_hangup,
}
