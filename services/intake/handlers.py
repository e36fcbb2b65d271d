"""Intake handlers: PBX events in (Kafka or HTTP), one `CallReceived` per call out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage  # the class; faststream.kafka's is Annotated
from faststream.message import StreamMessage
from prometheus_client import Counter

from services.intake.dialects import Adapted, Ignored, adapt
from services.intake.repository import AcceptedCalls, Claim
from shared import topics
from shared.events import CallLifecycle, CallReceived, utcnow
from shared.kafka import Context, group_id, service_router
from shared.settings import IntakeSettings

router = service_router()

IGNORED = Counter("switchboard_intake_ignored_events",
                  "PBX events that are neither a call start nor an answer or hang-up",
                  ["dialect", "kind"])


class CallBusy(Exception):
    """Another replica is publishing this call right now: try again shortly (Kafka redelivers;
    an HTTP sender gets 503)."""


@dataclass(frozen=True)
class Outcome:
    kind: Literal["accepted", "duplicate", "lifecycle", "ignored"]
    call_id: str | None
    event_id: str | None
    detail: str | None = None


async def accept(adapted: Adapted, broker: KafkaBroker, calls: AcceptedCalls) -> Outcome:
    """Publish what a PBX event means. A call is published once: a retried webhook, a PBX
    that sends the same call twice, or `Newchannel` then `DialBegin`, find it published."""
    if isinstance(adapted, Ignored):
        IGNORED.labels(adapted.dialect, adapted.kind).inc()
        return Outcome("ignored", None, None, f"{adapted.kind}: {adapted.reason}")
    if isinstance(adapted, CallLifecycle):
        await broker.publish(adapted, topics.CALLS_LIFECYCLE.name,
                             key=adapted.call_id.encode())
        return Outcome("lifecycle", adapted.call_id, str(adapted.event_id), adapted.phase.value)
    call: CallReceived = adapted
    claim = await calls.claim(call)
    if claim is Claim.DONE:
        return Outcome("duplicate", call.call_id, str(call.event_id))
    if claim is Claim.BUSY:
        raise CallBusy(call.call_id)
    # Kafka acknowledges (acks=all) before publish returns; only then is the call marked.
    await broker.publish(call, topics.CALLS_RECEIVED.name,
                         key=topics.event_key(call.caller, call.call_id))
    await calls.mark_published(call)
    return Outcome("accepted", call.call_id, str(call.event_id))


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
    msg: KafkaMessage = Context("message"),
    broker: KafkaBroker = Context(),
    calls: AcceptedCalls = Context(),
    settings: IntakeSettings = Context("intake_settings"),
) -> None:
    """Kafka headers: `dialect` (default `generic`), `pbx` (the PBX's name, for dialects whose
    payload does not carry it; default: the dialect's name)."""
    dialect = header(msg, "dialect") or "generic"
    pbx = header(msg, "pbx") or dialect
    adapted = adapt(dialect, body, region=settings.default_region, now=utcnow(), pbx=pbx)
    await accept(adapted, broker, calls)
