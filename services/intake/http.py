"""The intake's HTTP endpoint for PBX webhooks: `POST /v1/pbx/{dialect}`.

Our connectors sign each request: `X-Switchboard-Connector` (the connector's name, which is
also the PBX's name), `X-Switchboard-Timestamp` (Unix seconds) and `X-Switchboard-Signature:
sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>` with the connector's secret.
Twilio signs with its own scheme (`X-Twilio-Signature`, the account's auth token).
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from services.intake.dialects import adapt
from services.intake.service import CallBusy, Intake, IntakeRules, accept, reject_webhook
from services.intake.signing import verify_switchboard, verify_twilio
from services.intake.twilio import parse_form
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


def pbx_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/pbx/{dialect}", status_code=202)
    async def receive_pbx_event(dialect: str, request: Request,
                                deps: Intake = Depends(Intake.provider(broker))
                                ) -> JSONResponse:
        limit = deps.rules.max_body_bytes
        declared = int(request.headers.get("content-length") or 0)
        if declared > limit:
            return error(413, f"body of {declared} bytes exceeds {limit}")
        raw = await request.body()
        if len(raw) > limit:
            return error(413, f"body of {len(raw)} bytes exceeds {limit}")
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

    return api
