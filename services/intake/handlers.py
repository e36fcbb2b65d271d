"""The intake's Kafka entry point: PBX events in from `pbx.events`."""

from __future__ import annotations

from typing import Any

from faststream.kafka.message import KafkaMessage  # the class; faststream.kafka's is Annotated
from faststream.message import StreamMessage

from services.intake.dialects import adapt
from services.intake.service import Intake, accept
from shared import topics
from shared.events import utcnow
from shared.kafka import current_message, group_id, service_router

router = service_router()


async def raw_body(msg: StreamMessage[Any]) -> bytes:
    """PBX payloads are taken as bytes: the dialect adapter decides what they mean."""
    return msg.body


def header(msg: KafkaMessage, name: str) -> str | None:
    value = msg.headers.get(name)
    return value.decode() if isinstance(value, bytes) else value


@router.subscriber(topics.PBX_EVENTS.name, group_id=group_id("intake"),
                   auto_offset_reset="earliest", decoder=raw_body)
async def accept_on_pbx_event(
    body: bytes,
    msg: KafkaMessage = current_message(),
    deps: Intake = Intake.inject(),
) -> None:
    """Kafka headers: `dialect` (default `generic`), `pbx` (the PBX's name, for dialects whose
    payload does not carry it; default: the dialect's name)."""
    dialect = header(msg, "dialect") or "generic"
    pbx = header(msg, "pbx") or dialect
    adapted = adapt(dialect, body, region=deps.rules.default_region, now=utcnow(), pbx=pbx)
    await accept(deps, adapted)
