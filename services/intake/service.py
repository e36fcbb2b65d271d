"""The intake's use cases: publish what a PBX event means, once per call, and record a webhook
the intake refused. The Kafka handler and the HTTP endpoint call these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Protocol

from pydantic import SecretStr

from services.intake.metrics import IGNORED
from services.intake.pbx import Adapted, Ignored
from shared import topics
from shared.errors import PermanentError
from shared.events import (
    CallLifecycle,
    CallReceived,
    CallRejected,
    derive_event_id,
    truncate_payload,
    utcnow,
)
from shared.kafka import Publisher
from shared.settings import IntakeSettings
from shared.wiring import Dependencies


class Claim(Enum):
    PUBLISH = "publish"  # ours to publish
    DONE = "done"  # published already: a retry or a second start event of the call
    BUSY = "busy"  # another replica is publishing it right now


class AcceptedCallsPort(Protocol):
    """The intake's memory of the calls it published."""

    async def claim(self, call: CallReceived) -> Claim: ...

    async def mark_published(self, call: CallReceived) -> None: ...


@dataclass(frozen=True)
class IntakeRules:
    """What the intake accepts and from whom, from its settings."""

    default_region: str  # for numbers written without a country code
    max_body_bytes: int
    connectors: Mapping[str, SecretStr]  # connector name -> signing secret
    twilio_auth_token: SecretStr | None
    public_url: str | None  # the intake's URL as Twilio calls it, behind a proxy
    signature_max_age_seconds: int

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> IntakeRules:
        return cls(
            default_region=settings.default_region,
            max_body_bytes=settings.max_body_bytes,
            connectors=dict(settings.connectors),
            twilio_auth_token=settings.twilio_auth_token,
            public_url=settings.public_url,
            signature_max_age_seconds=settings.signature_max_age_seconds,
        )


@dataclass(frozen=True)
class Intake(Dependencies):
    """What the intake's entry points work with; built by `main.resources()`."""

    calls: AcceptedCallsPort
    publisher: Publisher
    rules: IntakeRules


class CallBusy(Exception):
    """Another replica is publishing this call right now: try again shortly (Kafka redelivers;
    an HTTP sender gets 503)."""


class Result(StrEnum):
    """What accepting a PBX event did."""

    ACCEPTED = "accepted"  # a new call, published
    DUPLICATE = "duplicate"  # the call was published before
    LIFECYCLE = "lifecycle"  # an answer or a hang-up, published
    IGNORED = "ignored"  # neither a call start nor a lifecycle moment: counted, dropped


@dataclass(frozen=True)
class Outcome:
    """What accepting one PBX event did: the HTTP endpoint's answer."""

    result: Result
    call_id: str | None
    event_id: str | None
    detail: str | None = None


async def accept(deps: Intake, adapted: Adapted) -> Outcome:
    """Publish what a PBX event means. A call is published once: a retried webhook, a PBX
    that sends the same call twice, or `Newchannel` then `DialBegin`, find it published."""
    if isinstance(adapted, Ignored):
        IGNORED.labels(adapted.dialect, adapted.kind).inc()
        return Outcome(Result.IGNORED, None, None, f"{adapted.kind}: {adapted.reason}")
    if isinstance(adapted, CallLifecycle):
        await deps.publisher.publish(topics.CALLS_LIFECYCLE, adapted,
                                     key=adapted.call_id.encode())
        return Outcome(Result.LIFECYCLE, adapted.call_id, str(adapted.event_id),
                       adapted.phase.value)
    call: CallReceived = adapted
    claim = await deps.calls.claim(call)
    if claim is Claim.DONE:
        return Outcome(Result.DUPLICATE, call.call_id, str(call.event_id))
    if claim is Claim.BUSY:
        raise CallBusy(call.call_id)
    # Kafka acknowledges (acks=all) before publish returns; only then is the call marked.
    await deps.publisher.publish(topics.CALLS_RECEIVED, call,
                                 key=topics.event_key(call.caller, call.call_id))
    await deps.calls.mark_published(call)
    return Outcome(Result.ACCEPTED, call.call_id, str(call.event_id))


async def reject_webhook(deps: Intake, dialect: str, raw: bytes, error: PermanentError) -> None:
    """A webhook body no adapter can read goes to `calls.rejected`, as a bad Kafka message
    does."""
    await deps.publisher.publish(topics.CALLS_REJECTED, CallRejected(
        event_id=derive_event_id("rejected", "http", dialect, raw),
        occurred_at=utcnow(), call_id=error.call_id, service="intake",
        source_topic="http", dialect=dialect, reason=error.reason, where=error.where,
        payload=truncate_payload(raw),
    ))
