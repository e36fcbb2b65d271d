"""Each PBX's answer to a route request: whom to ring, in the form that PBX reads. Pure.

| dialect | media type | body |
|---|---|---|
| generic | application/json | `{"call_id", "decided", "destination", "employee", "dial", "reasons", "rules_version"}` |
| asterisk | text/plain | the dial string alone, for `Dial(${DEST},30)`; `format=hash`: `key=value&...` (1) |
| kamailio | text/plain | a SIP URI |
| freeswitch | text/xml | a `freeswitch/xml` dialplan: bridge to the target, on failure to the desk (2) |
| twilio | text/xml | TwiML: `<Dial>` to the target, then a `<Dial>` to the desk |
| zadarma | application/json | `{"redirect": "<extension>", "caller_name": "<client>"}` |

(1) For `Set(HASH(route)=${CURL(...)})` with `CURLOPT(hashcompat)=yes`: Asterisk splits the
body on `&` and `=` and percent-decodes each part (`legacy` also reads `+` as a space, so a `+`
is always sent as `%2B`). Keys: `dial` (what to dial first), `desk` (what to dial when it
fails, empty when `dial` is the desk), `decided` (1 or 0), `outcome`, `destination`,
`employee`, `client`. A dialplan: `Dial(${HASH(route,dial)},30)`, then, when
`${HASH(route,desk)}` is not empty, `Dial(${HASH(route,desk)},30)`.

(2) `hangup_after_bridge` ends the call once a bridged leg hangs up, so the desk rings only when
the target did not answer; `continue_on_fail` moves on to the desk when it did not.

When nothing can be dialed (no desk set for the dialect), each answer leaves the call to the
PBX's own plan: FreeSWITCH gets `<result status="not found"/>` (it then reads its own
dialplan), Zadarma `{}` (its scenario goes on), Asterisk and Kamailio an empty body (their
dialplan tests it and dials its own fallback), Twilio an empty `<Response/>`.

Twilio's fall-through `<Dial>` (no `action` URL) also runs when the target answered and then
hung up while the caller is still on the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode
from xml.etree import ElementTree

from twilio.twiml.voice_response import Dial, VoiceResponse

from services.intake.dial import DialPlan, DialTarget, dial_target
from services.intake.route_requests import (
    AnswerFormat,
    NotADialplanLookup,
    NotRouted,
    RouteRequest,
)
from shared.events import CallRouted

JSON = "application/json"
TEXT = "text/plain"
XML = "text/xml"
FREESWITCH_DOCUMENT = "freeswitch/xml"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'


@dataclass(frozen=True)
class Answer:
    body: bytes
    media_type: str


def route_answer(request: RouteRequest, routed: CallRouted | None, plan: DialPlan) -> Answer:
    """The answer to `request` for the decision `routed` (None: the deadline passed)."""
    return render_answer(request, dial_target(routed, dialect=request.dialect, plan=plan))


def render_answer(request: RouteRequest, target: DialTarget) -> Answer:
    return _RENDERERS[request.dialect](request, target)


def render_not_routed(result: NotADialplanLookup | NotRouted) -> Answer:
    """The answer that leaves a request we do not route to the PBX's own plan."""
    if result.dialect == "freeswitch":
        return freeswitch_not_found()
    if result.dialect == "twilio":
        return Answer(VoiceResponse().to_xml().encode("utf-8"), XML)
    if result.dialect == "zadarma":
        return _json({})
    if result.dialect == "generic":
        return _json({"call_id": None, "decided": False, "destination": None,
                      "employee": None, "dial": None, "reasons": [result.reason],
                      "rules_version": None})
    return Answer(b"", TEXT)


# --- each dialect --------------------------------------------------------------------------

def generic_answer(request: RouteRequest, target: DialTarget) -> Answer:
    routed = target.routed
    employee = None
    if routed is not None and routed.employee_id is not None:
        employee = {"employee_id": str(routed.employee_id), "name": routed.employee_name,
                    "extension": routed.extension, "number": routed.number}
    return _json({
        "call_id": request.call.call_id,
        "decided": target.decided,
        "destination": routed.destination.value if routed else None,
        "employee": employee,
        "dial": target.dial,
        "reasons": list(target.reasons),
        "rules_version": routed.rules_version if routed else None,
    })


def asterisk_answer(request: RouteRequest, target: DialTarget) -> Answer:
    if request.answer_format is not AnswerFormat.HASH:
        return Answer((target.dial or "").encode("utf-8"), TEXT)
    routed = target.routed
    pairs = {
        "dial": target.dial or "",
        "desk": target.desk or "",
        "decided": "1" if target.decided else "0",
        "outcome": target.outcome.value,
        "destination": routed.destination.value if routed else "",
        "employee": (routed.employee_name or "") if routed else "",
        "client": (routed.client_name or "") if routed else "",
    }
    return Answer(urlencode(pairs, quote_via=quote, safe="/@:").encode("ascii"), TEXT)


def kamailio_answer(request: RouteRequest, target: DialTarget) -> Answer:
    return Answer((target.dial or "").encode("utf-8"), TEXT)


def freeswitch_answer(request: RouteRequest, target: DialTarget) -> Answer:
    if target.dial is None or not request.context or not request.destination_number:
        return freeswitch_not_found()
    document = ElementTree.Element("document", type=FREESWITCH_DOCUMENT)
    section = ElementTree.SubElement(document, "section", name="dialplan",
                                     description="Switchboard: whom this call rings")
    context = ElementTree.SubElement(section, "context", name=request.context)
    extension = ElementTree.SubElement(context, "extension",
                                       {"name": "switchboard", "continue": "false"})
    condition = ElementTree.SubElement(
        extension, "condition", field="destination_number",
        expression=f"^{re.escape(request.destination_number)}$")

    def action(application: str, data: str) -> None:
        ElementTree.SubElement(condition, "action", application=application, data=data)

    action("set", f"switchboard_outcome={target.outcome.value}")
    action("set", "hangup_after_bridge=true")
    if target.desk:
        action("set", "continue_on_fail=true")
    action("bridge", target.dial)
    if target.desk:
        action("bridge", target.desk)
    return _xml(document)


def freeswitch_not_found() -> Answer:
    """mod_xml_curl's "nothing here": FreeSWITCH looks in its own configuration instead."""
    document = ElementTree.Element("document", type=FREESWITCH_DOCUMENT)
    section = ElementTree.SubElement(document, "section", name="result")
    ElementTree.SubElement(section, "result", status="not found")
    return _xml(document)


def twilio_answer(request: RouteRequest, target: DialTarget) -> Answer:
    response = VoiceResponse()
    for dial in (target.dial, target.desk):
        if dial:
            response.append(_twilio_dial(dial))
    return Answer(response.to_xml().encode("utf-8"), XML)


def _twilio_dial(dial: str) -> Dial:
    """A `<Dial>` to a SIP URI (`sip:`), a Voice SDK user (`client:`), or a phone number."""
    verb = Dial()
    lowered = dial.lower()
    if lowered.startswith(("sip:", "sips:")):
        verb.sip(dial)
    elif lowered.startswith("client:"):
        verb.client(dial[len("client:"):])
    else:
        verb.number(dial)
    return verb


def zadarma_answer(request: RouteRequest, target: DialTarget) -> Answer:
    if target.dial is None:
        return _json({})
    answer = {"redirect": target.dial}
    if target.routed is not None and target.routed.client_name:
        answer["caller_name"] = target.routed.client_name
    return _json(answer)


def _json(document: dict) -> Answer:
    return Answer(json.dumps(document, ensure_ascii=False).encode("utf-8"), JSON)


def _xml(document: ElementTree.Element) -> Answer:
    text = _XML_DECLARATION + ElementTree.tostring(document, encoding="unicode")
    return Answer(text.encode("utf-8"), XML)


_RENDERERS = {
    "generic": generic_answer,
    "asterisk": asterisk_answer,
    "kamailio": kamailio_answer,
    "freeswitch": freeswitch_answer,
    "twilio": twilio_answer,
    "zadarma": zadarma_answer,
}
