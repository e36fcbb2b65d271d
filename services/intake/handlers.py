"""Intake handlers: PBX events in (Kafka or HTTP), one `CallReceived` per call out."""

from __future__ import annotations

from typing import Any

from faststream import Context
from faststream.kafka import KafkaMessage, KafkaResponse, KafkaRouter
from faststream.message import StreamMessage

from services.intake.dialects import adapt
from shared import topics
from shared.events import CallReceived, utcnow
from shared.kafka import group_id
from shared.settings import IntakeSettings

router = KafkaRouter()


async def raw_body(msg: StreamMessage[Any]) -> bytes:
    """PBX payloads are taken as bytes: the dialect adapter decides what they mean."""
    return msg.body


def as_response(call: CallReceived) -> KafkaResponse:
    return KafkaResponse(call, key=topics.event_key(call.caller, call.call_id))


@router.subscriber(topics.PBX_EVENTS.name, group_id=group_id("intake"),
                   auto_offset_reset="earliest", decoder=raw_body)
@router.publisher(topics.CALLS_RECEIVED.name, schema=topics.CALLS_RECEIVED.event)
async def accept_on_pbx_event(
    body: bytes, msg: KafkaMessage, settings: IntakeSettings = Context("intake_settings")
) -> KafkaResponse:
    dialect = (msg.headers.get("dialect") or "generic")
    if isinstance(dialect, bytes):
        dialect = dialect.decode()
    call = adapt(dialect, body, region=settings.default_region, now=utcnow())
    return as_response(call)
