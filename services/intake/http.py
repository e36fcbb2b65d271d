"""The intake's HTTP endpoints for PBXs: webhooks, `POST /v1/pbx/{dialect}`, and ring-time
call control, `POST /v1/route/{dialect}` (and `GET` for the dialects whose PBX sends GET),
which answers whom to dial in the PBX's own format.

Our connectors sign each request: `X-Switchboard-Connector` (the connector's name, which is
also the PBX's name), `X-Switchboard-Timestamp` (Unix seconds) and `X-Switchboard-Signature:
sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>` with the connector's secret.
Twilio signs with its own scheme (`X-Twilio-Signature`, the account's auth token), Zadarma
with its own (`Signature`, the API secret). PBX dialplans (Asterisk `CURL()`, FreeSWITCH
`mod_xml_curl`, Kamailio `http_client`) cannot compute an HMAC: they send HTTP basic auth,
the connector's name and its secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field

from services.intake.dialects import DIALECTS, adapt
from services.intake import zadarma
from services.intake.answers import render_not_routed
from services.intake.dial import ROUTE_DIALECTS
from services.intake.generic import GenericCallEvent
from services.intake.route_requests import (AnswerFormat, RouteRequest, parse_route_request,
                                            request_fields)
from services.intake.service import (CallBusy, Intake, IntakeRules, Result, accept,
                                     reject_webhook, route_call)
from services.intake.signing import verify_switchboard, verify_twilio
from services.intake.twilio import parse_form
from shared.access.http import errors
from shared.errors import PermanentError
from shared.events import utcnow

log = logging.getLogger(__name__)


def error(status: int, message: str, where: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "where": where}, status_code=status)


def authenticate(dialect: str, request: Request, raw: bytes, rules: IntakeRules
                 ) -> tuple[str | None, str | None]:
    """(the connector's name, None) when the request is signed, else (None, why not)."""
    if dialect == "twilio":
        token = rules.twilio_auth_token
        signature = request.headers.get("x-twilio-signature")
        if token is None:
            return None, "no Twilio auth token is configured"
        url = str(request.url)
        if rules.public_url:
            url = rules.public_url.rstrip("/") + request.url.path + (
                f"?{request.url.query}" if request.url.query else "")
        try:
            params = parse_form(raw)
        except PermanentError:
            params = {}
        if not signature or not verify_twilio(token.get_secret_value(), url, params, signature):
            return None, "bad or missing X-Twilio-Signature"
        return "twilio", None
    connector = request.headers.get("x-switchboard-connector")
    if not connector:
        return None, "missing X-Switchboard-Connector"
    secret = rules.connectors.get(connector)
    if secret is None:
        return None, f"unknown connector {connector!r}"
    problem = verify_switchboard(
        secret.get_secret_value(), request.headers.get("x-switchboard-timestamp"),
        request.headers.get("x-switchboard-signature"), raw, time.time(),
        rules.signature_max_age_seconds,
    )
    return (None, problem) if problem else (connector, None)


# The dialects whose PBX may ask with GET and query parameters (Twilio when its webhook is
# set to GET; Zadarma for its URL check).
GET_DIALECTS = ("asterisk", "kamailio", "twilio", "zadarma")
BASIC_AUTH_DIALECTS = ("asterisk", "kamailio", "freeswitch")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, secret = decoded.partition(":")
    return (name, secret) if sep else None


def authenticate_route(dialect: str, request: Request, raw: bytes, rules: IntakeRules
                       ) -> tuple[str | None, str | None]:
    """(the connector's name, None) for a route request we may answer, else (None, why not)."""
    if dialect in BASIC_AUTH_DIALECTS:
        credentials = basic_credentials(request)
        if credentials is None:
            return None, "missing HTTP basic auth (the connector's name and secret)"
        name, given = credentials
        secret = rules.connectors.get(name)
        # Compared even for an unknown name, so the answer takes as long either way.
        expected = secret.get_secret_value() if secret else "\0" + given
        if not hmac.compare_digest(expected.encode(), given.encode()) or secret is None:
            return None, "bad connector name or secret"
        return name, None
    if dialect == "zadarma":
        if rules.zadarma_secret is None:
            return None, "no Zadarma secret is configured"
        fields = request_fields(dialect, query=request.url.query, body=raw)
        if not zadarma.verify_signature(rules.zadarma_secret.get_secret_value(), fields,
                                        request.headers.get(zadarma.SIGNATURE_HEADER)):
            return None, f"bad or missing {zadarma.SIGNATURE_HEADER}"
        return "zadarma", None
    return authenticate(dialect, request, raw, rules)


# --- what the OpenAPI document says of these endpoints --------------------------------------
# The bodies are read raw (each dialect parses its own, and the signature covers the exact
# bytes), so they are declared here rather than by parameters.

class WebhookAnswer(BaseModel):
    """What accepting a PBX event did."""

    outcome: Result = Field(description="accepted: a new call, published; duplicate: published "
                            "before; lifecycle: an answer or a hang-up, published; ignored: "
                            "neither, counted and dropped.")
    call_id: str | None = Field(description="The pipeline's call id, `<pbx>:<the PBX's id>`.")
    event_id: str | None
    detail: str | None = Field(description="What was ignored, or the lifecycle moment.")


class RouteEmployee(BaseModel):
    employee_id: str
    name: str | None
    extension: str | None
    number: str | None


class GenericRouteAnswer(BaseModel):
    """The `generic` dialect's answer: the decision itself."""

    call_id: str | None = Field(description="Null when the request was not a call starting.")
    decided: bool = Field(description="False: no decision came in time, `dial` is the desk.")
    destination: str | None
    employee: RouteEmployee | None
    dial: str | None = Field(description="Whom to dial: an extension, a number or a SIP URI.")
    reasons: list[str]
    rules_version: str | None


class ZadarmaRouteAnswer(BaseModel):
    """Zadarma's answer: `{}` leaves the call to the PBX's own scenario."""

    redirect: str | None = Field(default=None, description="Whom to dial.")
    caller_name: str | None = Field(default=None, description="The client's name.")


def _dialect(known: list[str]) -> Any:
    return Path(description=f"The PBX's dialect: {', '.join(known)}.", examples=known)


_FIELDS = {"type": "object", "additionalProperties": {"type": "string"}}
_WEBHOOK_BODY = {"requestBody": {"required": True, "description": (
    "The PBX's event as the PBX sends it: the `generic` event (JSON), an Asterisk AMI or a "
    "FreeSWITCH event (JSON), a Twilio status callback (form)."), "content": {
        "application/json": {"schema": {"anyOf": [GenericCallEvent.model_json_schema(),
                                                  {"type": "object"}]}},
        "application/x-www-form-urlencoded": {"schema": _FIELDS}}}}
_ROUTE_FIELDS = {"type": "object", "properties": {
    "call_id": {"type": "string", "description": "The PBX's id of the call."},
    "caller": {"type": "string", "description": "The caller's number."},
    "dialed": {"type": "string", "description": "The number or extension dialed."},
    "format": {"type": "string", "enum": [f.value for f in AnswerFormat],
               "description": "Asterisk: `hash` for `CURLOPT(hashcompat)`."}},
    "additionalProperties": {"type": "string"},
    "examples": [{"call_id": "1700000000.42", "caller": "+79161234567",
                  "dialed": "+74951000000"}],
    "description": "Asterisk, Kamailio: these fields; FreeSWITCH: mod_xml_curl's form; "
    "Twilio: the voice webhook; Zadarma: `NOTIFY_START`."}
# The query for both methods, the body for POST (`install_refusals` declares no GET body).
_ROUTE_REQUEST = {"requestBody": {"required": False, "content": {
    "application/x-www-form-urlencoded": {"schema": _ROUTE_FIELDS},
    "application/json": {"schema": GenericCallEvent.model_json_schema()}}}, "parameters": [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
     "description": description}
    for name, description in (("call_id", "Asterisk, Kamailio: the PBX's id of the call."),
                              ("caller", "Asterisk, Kamailio: the caller's number."),
                              ("dialed", "Asterisk, Kamailio: the number dialed."),
                              ("format", "Asterisk: `plain` or `hash`."),
                              (zadarma.ECHO_PARAMETER, "Zadarma's URL check: echoed back."))]}
_ROUTE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Whom to dial, in the dialect's own format: text for Asterisk and "
          "Kamailio (and Zadarma's URL check), XML for FreeSWITCH and Twilio, JSON for "
          "`generic` and Zadarma.",
          "model": GenericRouteAnswer | ZadarmaRouteAnswer,
          "content": {"text/plain": {"schema": {"type": "string"}},
                      "text/xml": {"schema": {"type": "string"}}}},
    **errors(400, 401, 404, 405, 413)}


async def _body_within(request: Request, limit: int) -> bytes | JSONResponse:
    """The request's body, or a 413 answer when its declared or sent size is over limit (a
    declared size over it is refused before the body is read)."""
    declared = request.headers.get("content-length") or "0"
    if declared.isdigit() and int(declared) > limit:
        return error(413, f"body of {declared} bytes exceeds {limit}")
    raw = await request.body()
    if len(raw) > limit:
        return error(413, f"body of {len(raw)} bytes exceeds {limit}")
    return raw


def pbx_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter()

    # The PBXs sign their requests: no principal, no guard.
    @api.post("/v1/pbx/{dialect}", status_code=202, openapi_extra=_WEBHOOK_BODY,
              responses={202: {"model": WebhookAnswer, "description": "Accepted"},
                         **errors(400, 401, 404, 413, 503)})
    async def receive_pbx_event(dialect: Annotated[str, _dialect(sorted(DIALECTS))],
                                request: Request,
                                deps: Intake = Depends(Intake.provider(broker))
                                ) -> JSONResponse:
        raw = await _body_within(request, deps.rules.max_body_bytes)
        if isinstance(raw, JSONResponse):
            return raw
        connector, problem = authenticate(dialect, request, raw, deps.rules)
        if problem:
            log.warning("refused a webhook for %s: %s", dialect, problem)
            return error(401, problem, "signature")
        try:
            adapted = adapt(dialect, raw, region=deps.rules.default_region, now=utcnow(),
                            pbx=connector or dialect)
        except PermanentError as e:
            await reject_webhook(deps, dialect, raw, e)
            return error(404 if e.where == "dialect" else 400, e.reason, e.where)
        try:
            outcome = await accept(deps, adapted)
        except CallBusy:
            return JSONResponse({"error": "this call is being accepted; retry", "where": None},
                                status_code=503, headers={"Retry-After": "1"})
        return JSONResponse(
            {"outcome": outcome.result, "call_id": outcome.call_id,
             "event_id": outcome.event_id, "detail": outcome.detail},
            status_code=202,
        )

    @api.api_route("/v1/route/{dialect}", methods=["GET", "POST"],
                   openapi_extra=_ROUTE_REQUEST, responses=_ROUTE_ANSWERS)
    async def route_ringing_call(dialect: Annotated[str, _dialect(list(ROUTE_DIALECTS))],
                                 request: Request,
                                 deps: Intake = Depends(Intake.provider(broker))) -> Response:
        """Whom to dial for a call that is ringing, in the dialect's own format."""
        if dialect not in ROUTE_DIALECTS:
            return error(404, f"unknown dialect {dialect!r}; known: {', '.join(ROUTE_DIALECTS)}",
                         "dialect")
        if request.method == "GET" and dialect not in GET_DIALECTS:
            return error(405, f"{dialect} route requests are POSTed", "method")
        if dialect == "zadarma" and request.method == "GET":
            echo = zadarma.echo_reply(request.query_params)
            if echo is None:
                return error(400, f"expected {zadarma.ECHO_PARAMETER}", zadarma.ECHO_PARAMETER)
            return PlainTextResponse(echo)  # Zadarma checks the URL before it uses it
        raw = await _body_within(request, deps.rules.max_body_bytes)
        if isinstance(raw, JSONResponse):
            return raw
        connector, problem = authenticate_route(dialect, request, raw, deps.rules)
        if problem:
            log.warning("refused a route request for %s: %s", dialect, problem)
            headers = ({"WWW-Authenticate": 'Basic realm="switchboard"'}
                       if dialect in BASIC_AUTH_DIALECTS else None)
            return JSONResponse({"error": problem, "where": "credentials"}, status_code=401,
                                headers=headers)
        try:
            parsed = parse_route_request(dialect, query=request.url.query, body=raw,
                                         region=deps.rules.default_region, now=utcnow(),
                                         pbx=connector or dialect)
        except PermanentError as e:
            # 400: the PBX's own fallback takes the call
            await reject_webhook(deps, dialect, raw, e)
            return error(400, e.reason, e.where)
        if not isinstance(parsed, RouteRequest):
            answer = render_not_routed(parsed)
        else:
            answer, target = await route_call(deps, parsed)
            log.info("route %s for %s: %s (%s)", dialect, parsed.call.call_id,
                     target.outcome.value, target.dial)
        return Response(answer.body, media_type=answer.media_type)

    return api
