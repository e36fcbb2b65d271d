"""Route requests: a PBX asking, as a call starts, whom it should ring. Pure parsing.

Each dialect's request, as that PBX sends it, becomes the call's `CallReceived` (the same one,
with the same id, as the dialect's events would give: a call announced both ways is one call)
and what its answer needs:

| dialect | request | call id |
|---|---|---|
| generic | the generic JSON event (POST) | `<pbx>:<call_id>` |
| asterisk | `caller`, `dialed`, `call_id` (query or form; `format=hash` for `CURLOPT(hashcompat)`) | `<pbx>:<call_id>` |
| kamailio | `caller`, `dialed`, `call_id` (query or form), from `http_client_query()` | `<pbx>:<call_id>` |
| freeswitch | mod_xml_curl's form POST: `section`, `Unique-ID`, `Call-Direction`, `Caller-Context`, `Caller-Caller-ID-Number`, `Caller-Destination-Number`, ... | `<pbx>:<Unique-ID>` |
| twilio | the voice webhook (form) | `<pbx>:<CallSid>` |
| zadarma | `NOTIFY_START` (form) | `<pbx>:<pbx_call_id>` |

Asterisk: the dialplan should send `call_id=${CHANNEL(linkedid)}`, the id the AMI events of the
call carry, and `caller=${URIENCODE(${CALLERID(num)})}`. A `+` left unencoded in an Asterisk,
Kamailio or FreeSWITCH request is kept as a plus (a dialplan that writes `caller=+7916...`
means the number), not read as a space.

A withheld caller (no `caller`, an empty one, `anonymous`...) is routed like any unknown caller.
A malformed request raises `PermanentError` whose `where` names the field. A FreeSWITCH lookup
of another section (directory, configuration...) is `NotADialplanLookup`; a request that is
not an incoming call starting (a Twilio call of our own Voice SDK user going out, a Twilio
status callback, a Zadarma event other than `NOTIFY_START`, a FreeSWITCH lookup for our own
phone dialing out) is `NotRouted`: both are answered so the PBX goes on with its own plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import parse_qsl

from services.intake import freeswitch, twilio, zadarma
from services.intake.generic import from_generic
from services.intake.pbx import MAX_CALL_ID, MAX_NUMBER, Ignored, call_received, within
from shared.events import CallerStatus, CallReceived
from shared.errors import PermanentError
from shared.phones import normalise

MAX_CONTEXT = 100
# The dialects whose PBX builds the request itself, often without encoding a `+`.
_LITERAL_PLUS = frozenset({"asterisk", "kamailio", "freeswitch"})
# The fields a FreeSWITCH dialplan lookup must carry to be routed and answered.
_DIALPLAN_FIELDS = ("Unique-ID", "Call-Direction", "Caller-Context", "Caller-Destination-Number")


class AnswerFormat(StrEnum):
    PLAIN = "plain"  # the dial string alone
    HASH = "hash"  # key=value&... for Asterisk's CURLOPT(hashcompat)


@dataclass(frozen=True)
class RouteRequest:
    """A PBX asking whom an incoming call should ring."""

    call: CallReceived
    answer_format: AnswerFormat = AnswerFormat.PLAIN  # asterisk only
    context: str | None = None  # freeswitch: the dialplan context looked up
    destination_number: str | None = None  # freeswitch: the number dialed, as FreeSWITCH has it

    @property
    def dialect(self) -> str:
        return self.call.dialect


@dataclass(frozen=True)
class NotADialplanLookup:
    """A mod_xml_curl request for another section (directory, configuration, phrases...)."""

    section: str
    dialect: str = freeswitch.DIALECT


@dataclass(frozen=True)
class NotRouted:
    """A request of the route endpoint that is not an incoming call starting."""

    dialect: str
    kind: str  # the vendor's name for it: a Twilio CallStatus, a Zadarma event...
    reason: str


Parsed = RouteRequest | NotADialplanLookup | NotRouted


def request_fields(dialect: str, *, query: str = "", body: bytes = b"") -> dict[str, str]:
    """The parameters of a form-style route request: the query's, then the form body's; a
    parameter given twice counts with its first value. (Zadarma's signature is checked over
    these.)"""
    fields: dict[str, str] = {}
    for part in (query, _text(body, dialect)):
        if dialect in _LITERAL_PLUS:
            part = part.replace("+", "%2B")
        for key, value in parse_qsl(part, keep_blank_values=True):
            fields.setdefault(key, value)
    return fields


def parse_route_request(dialect: str, *, query: str = "", body: bytes = b"", region: str,
                        now: datetime, pbx: str) -> Parsed:
    """What the route request means. `query` is the URL's query string, `body` the raw body;
    `pbx` names the PBX for dialects whose request does not (the connector's name)."""
    parser = _PARSERS.get(dialect)
    if parser is None:
        raise PermanentError(f"unknown dialect {dialect!r}; known: {', '.join(_PARSERS)}",
                             where="dialect", dialect=dialect)
    return parser(query, body, region=region, now=now, pbx=pbx)


# --- each dialect --------------------------------------------------------------------------

def _generic(query: str, body: bytes, *, region: str, now: datetime, pbx: str) -> Parsed:
    return RouteRequest(from_generic(body, region=region, now=now))  # it names its own PBX


def _asterisk(query: str, body: bytes, *, region: str, now: datetime, pbx: str) -> Parsed:
    fields = request_fields("asterisk", query=query, body=body)
    call = _from_parameters(fields, "asterisk", region=region, now=now, pbx=pbx)
    answer_format = fields.get("format", "").strip().lower() or AnswerFormat.PLAIN
    if answer_format not in set(AnswerFormat):
        raise PermanentError(f"format {fields['format']!r}: expected plain or hash",
                             where="format", call_id=call.call_id, dialect="asterisk")
    return RouteRequest(call, answer_format=AnswerFormat(answer_format))


def _kamailio(query: str, body: bytes, *, region: str, now: datetime, pbx: str) -> Parsed:
    fields = request_fields("kamailio", query=query, body=body)
    return RouteRequest(_from_parameters(fields, "kamailio", region=region, now=now, pbx=pbx))


def _from_parameters(fields: dict[str, str], dialect: str, *, region: str, now: datetime,
                     pbx: str) -> CallReceived:
    pbx_call_id = within(fields.get("call_id", "").strip(), "call_id", MAX_CALL_ID,
                         dialect=dialect)
    if not pbx_call_id:
        raise PermanentError("no call_id", where="call_id", dialect=dialect)
    call_id = f"{pbx}:{pbx_call_id}"
    dialed = within(fields.get("dialed", "").strip(), "dialed", MAX_NUMBER, dialect=dialect,
                    call_id=call_id)
    if not dialed:
        raise PermanentError("no dialed: the number called is unknown", where="dialed",
                             call_id=call_id, dialect=dialect)
    caller = within(fields.get("caller", "").strip(), "caller", MAX_NUMBER, dialect=dialect,
                    call_id=call_id)
    return call_received(call_id=call_id, pbx=pbx, caller_raw=caller,
                         caller=normalise(caller, region), dialed_raw=dialed, region=region,
                         started_at=now, now=now, dialect=dialect)


def _freeswitch(query: str, body: bytes, *, region: str, now: datetime, pbx: str) -> Parsed:
    fields = request_fields(freeswitch.DIALECT, query=query, body=body)
    section = fields.get("section", "").strip()
    if not section:
        raise PermanentError("no section: not a mod_xml_curl request", where="section",
                             dialect=freeswitch.DIALECT)
    if section.lower() != "dialplan":
        return NotADialplanLookup(section)
    for key in _DIALPLAN_FIELDS:
        if not fields.get(key, "").strip():
            raise PermanentError(f"a dialplan lookup without {key}", where=key,
                                 dialect=freeswitch.DIALECT)
    context = within(fields["Caller-Context"].strip(), "Caller-Context", MAX_CONTEXT,
                     dialect=freeswitch.DIALECT)
    # A dialplan lookup is made for a channel starting its call: it is judged as that
    # channel's CHANNEL_CREATE (which leg, which way), by the event adapter itself.
    event = {"Event-Name": "CHANNEL_CREATE",
             **{key: value for key, value in fields.items() if key.lower() != "event-name"}}
    adapted = freeswitch.from_freeswitch(json.dumps(event).encode(), region=region, now=now,
                                         pbx=pbx)
    if isinstance(adapted, Ignored):
        return NotRouted(freeswitch.DIALECT, "dialplan", adapted.reason)
    assert isinstance(adapted, CallReceived)  # a CHANNEL_CREATE is never a lifecycle moment
    if adapted.caller_status is CallerStatus.INTERNAL:
        # One of our own phones dialing another: FreeSWITCH's own dialplan connects them.
        return NotRouted(freeswitch.DIALECT, "internal", "a call between internal extensions")
    return RouteRequest(adapted, context=context,
                        destination_number=fields["Caller-Destination-Number"].strip())


def _twilio(query: str, body: bytes, *, region: str, now: datetime, pbx: str) -> Parsed:
    raw = body if body.strip() else query.encode("utf-8")  # a voice URL set to GET
    adapted = twilio.from_twilio(raw, region=region, now=now, pbx=pbx)
    if isinstance(adapted, CallReceived):
        return RouteRequest(adapted)
    if isinstance(adapted, Ignored):
        return NotRouted(twilio.DIALECT, adapted.kind, adapted.reason)
    return NotRouted(twilio.DIALECT, adapted.phase.value, "a later moment of a call, not its "
                     "start")


def _zadarma(query: str, body: bytes, *, region: str, now: datetime, pbx: str) -> Parsed:
    fields = request_fields(zadarma.DIALECT, query=query, body=body)
    adapted = zadarma.from_zadarma(fields, region=region, now=now, pbx=pbx)
    if isinstance(adapted, CallReceived):
        return RouteRequest(adapted)
    return NotRouted(zadarma.DIALECT, adapted.kind, adapted.reason)


def _text(body: bytes, dialect: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PermanentError(f"not UTF-8 form data: {e}", dialect=dialect) from e


_PARSERS: dict[str, Callable[..., Parsed]] = {
    "generic": _generic,
    "asterisk": _asterisk,
    "kamailio": _kamailio,
    "freeswitch": _freeswitch,
    "twilio": _twilio,
    "zadarma": _zadarma,
}
