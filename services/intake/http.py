"""The intake's HTTP endpoint for PBX webhooks: `POST /v1/pbx/{dialect}`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from services.intake.dialects import adapt
from shared import topics
from shared.events import CallRejected, derive_event_id, truncate_payload, utcnow
from shared.kafka import PermanentError
from shared.settings import IntakeSettings


def pbx_routes(broker: KafkaBroker, settings: IntakeSettings) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/pbx/{dialect}", status_code=202)
    async def receive_pbx_event(dialect: str, request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            return JSONResponse(
                {"error": f"body of {len(raw)} bytes exceeds {settings.max_body_bytes}"},
                status_code=413,
            )
        try:
            call = adapt(dialect, raw, region=settings.default_region, now=utcnow())
        except PermanentError as e:
            await broker.publish(
                CallRejected(
                    event_id=derive_event_id("rejected", "http", dialect, raw),
                    occurred_at=utcnow(), call_id=e.call_id, service="intake",
                    source_topic="http", dialect=dialect, reason=e.reason, where=e.where,
                    payload=truncate_payload(raw),
                ),
                topics.CALLS_REJECTED.name,
            )
            status = 404 if e.where == "dialect" else 400
            return JSONResponse({"error": e.reason, "where": e.where}, status_code=status)
        # Kafka has acknowledged the event (acks=all) when publish returns: only then 202.
        await broker.publish(
            call, topics.CALLS_RECEIVED.name, key=topics.event_key(call.caller, call.call_id)
        )
        return JSONResponse(
            {"call_id": call.call_id, "event_id": str(call.event_id)}, status_code=202
        )

    return api
