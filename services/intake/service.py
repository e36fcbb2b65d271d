"""The intake's use cases: publish what a PBX event means, once per call, and record a webhook
the intake refused. The Kafka handler and the HTTP endpoint call these."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Protocol

from pydantic import SecretStr

from services.intake.answers import Answer, render_answer
from services.intake.decisions import RoutedCalls
from services.intake.dial import DialPlan, DialTarget, dial_target
from services.intake.metrics import IGNORED, ROUTE_ANSWER_SECONDS, ROUTE_ANSWERS
from services.intake.pbx import Adapted, Ignored
from services.intake.route_requests import RouteRequest
from shared import topics
from shared.batches import Batch, Item
from shared.errors import PermanentError
from shared.events import (
    CallLifecycle,
    CallReceived,
    CallRejected,
    derive_event_id,
    truncate_payload,
    utcnow,
)
from shared.kafka import PublisherPort
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

    async def claim_all(self, calls: Sequence[CallReceived]) -> list[Claim]:
        """Each call's claim, in order; a call named twice is claimed by its first mention
        (the others find it busy)."""

    async def mark_all_published(self, calls: Sequence[CallReceived]) -> None: ...


@dataclass(frozen=True)
class IntakeRules:
    """What the intake accepts and from whom, from its settings."""

    default_region: str  # for numbers written without a country code
    max_body_bytes: int
    connectors: Mapping[str, SecretStr]  # connector name -> signing secret
    twilio_auth_token: SecretStr | None
    public_url: str | None  # the intake's URL as Twilio calls it, behind a proxy
    signature_max_age_seconds: int
    zadarma_secret: SecretStr | None = None
    route_deadline_seconds: float = 0.8  # past it a PBX asking whom to ring gets the desk

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> IntakeRules:
        return cls(
            default_region=settings.default_region,
            max_body_bytes=settings.max_body_bytes,
            connectors=dict(settings.connectors),
            twilio_auth_token=settings.twilio_auth_token,
            public_url=settings.public_url,
            signature_max_age_seconds=settings.signature_max_age_seconds,
            zadarma_secret=settings.zadarma_secret,
            route_deadline_seconds=settings.route_deadline_ms / 1000,
        )


@dataclass(frozen=True)
class Intake(Dependencies):
    """What the intake's entry points work with; built by `main.resources()`."""

    calls: AcceptedCallsPort
    publisher: PublisherPort
    rules: IntakeRules
    dial_plan: DialPlan = field(default_factory=DialPlan.build)
    routed: RoutedCalls = field(default_factory=RoutedCalls)  # ring-time decisions seen


log = logging.getLogger(__name__)


# A call another replica is publishing is claimed again after this (doubling, up to 1 s).
BUSY_PAUSE_SECONDS = 0.05


class CallBusy(Exception):
    """Another replica is publishing this call right now: try again shortly (an HTTP sender
    gets 503; a batch from Kafka claims it again itself, `accept_all`)."""


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
    if not isinstance(adapted, CallReceived):
        return await _accept_moment(deps, adapted)
    call: CallReceived = adapted
    claim = await deps.calls.claim(call)
    if claim is Claim.DONE:
        return Outcome(Result.DUPLICATE, call.call_id, str(call.event_id))
    if claim is Claim.BUSY:
        raise CallBusy(call.call_id)
    # Kafka acknowledges (acks=all) before publish returns; only then is the call marked.
    await _publish_call(deps, call)
    await deps.calls.mark_published(call)
    return Outcome(Result.ACCEPTED, call.call_id, str(call.event_id))


async def accept_all(deps: Intake, batch: Batch, events: Sequence[Item[Adapted]]) -> None:
    """`accept` for a batch of PBX events, in order, within the batch's `Publisher.together()`:
    one claim for all the calls, their publishes confirmed together, then one mark.

    A call another replica is publishing right now (or one that died while publishing it:
    its claim goes stale and is taken over) is claimed again until it is published or ours,
    and what comes after it waits: the order per client holds, as when one event at a time
    was redelivered, and the batch is not redelivered (its rejections are not sent twice)."""
    calls = [item.event for item in events if isinstance(item.event, CallReceived)]
    claims = dict(zip((id(call) for call in calls), await deps.calls.claim_all(calls),
                      strict=True))
    published: list[CallReceived] = []
    for item in events:
        event = item.event
        with batch.about(item.record):
            if not isinstance(event, CallReceived):
                await _accept_moment(deps, event)
                continue
            claim = claims[id(event)]
            if claim is Claim.BUSY and any(c.call_id == event.call_id for c in published):
                continue  # a second event of a call this batch published
            pause = BUSY_PAUSE_SECONDS
            while claim is Claim.BUSY:
                await asyncio.sleep(pause)
                pause = min(2 * pause, 1.0)
                [claim] = await deps.calls.claim_all([event])
            if claim is Claim.PUBLISH:
                await _publish_call(deps, event)
                published.append(event)
    await deps.publisher.confirm()
    if published:
        await deps.calls.mark_all_published(published)


async def _accept_moment(deps: Intake, adapted: Ignored | CallLifecycle) -> Outcome:
    if isinstance(adapted, Ignored):
        IGNORED.labels(adapted.dialect, adapted.kind).inc()
        return Outcome(Result.IGNORED, None, None, f"{adapted.kind}: {adapted.reason}")
    await deps.publisher.publish(topics.CALLS_LIFECYCLE, adapted, key=adapted.call_id.encode())
    return Outcome(Result.LIFECYCLE, adapted.call_id, str(adapted.event_id),
                   adapted.phase.value)


async def _publish_call(deps: Intake, call: CallReceived) -> None:
    await deps.publisher.publish(topics.CALLS_RECEIVED, call,
                                 key=topics.event_key(call.caller, call.call_id))


async def reject_webhook(deps: Intake, dialect: str, raw: bytes, error: PermanentError) -> None:
    """A webhook body no adapter can read goes to `calls.rejected`, as a bad Kafka message
    does."""
    await deps.publisher.publish(topics.CALLS_REJECTED, CallRejected(
        event_id=derive_event_id("rejected", "http", dialect, raw),
        occurred_at=utcnow(), call_id=error.call_id, service="intake",
        source_topic="http", dialect=dialect, reason=error.reason, where=error.where,
        payload=truncate_payload(raw),
    ))


async def route_call(deps: Intake, request: RouteRequest) -> tuple[Answer, DialTarget]:
    """A PBX asks whom to ring: publish the call as `accept` does, wait for its ring-time
    decision until the deadline, answer what to dial. Past the deadline, or when Kafka cannot
    take the call in time, the answer is the client department's desk: the seed's client
    department takes every call. What is still under way goes on, so the decision still lands
    on calls.routed; a repeated request for the call gets that decision."""
    started = time.monotonic()
    deadline = started + deps.rules.route_deadline_seconds
    call = request.call
    waiter = deps.routed.expect(call.call_id)  # before the publish: the answer may be quick
    routed = None
    try:
        if not waiter.done():
            await _accepted_within(deps, call, deadline)
        routed = await deps.routed.wait(call.call_id, waiter,
                                        max(0.0, deadline - time.monotonic()))
    finally:
        deps.routed.forget(call.call_id, waiter)
    target = dial_target(routed, dialect=request.dialect, plan=deps.dial_plan)
    ROUTE_ANSWERS.labels(request.dialect, "decided" if target.decided else "fallback").inc()
    ROUTE_ANSWER_SECONDS.labels(request.dialect).observe(time.monotonic() - started)
    return render_answer(request, target), target


async def _accepted_within(deps: Intake, call: CallReceived, deadline: float) -> None:
    """Publishes the call unless it was before; returns at the deadline at the latest, leaving
    a slow publish (the broker away) to finish in the background."""
    accepting = asyncio.ensure_future(accept(deps, call))
    accepting.add_done_callback(_log_failure)
    try:
        await asyncio.wait_for(asyncio.shield(accepting), max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        log.warning("call %s not published by the route deadline", call.call_id)
    except CallBusy:
        pass  # another replica is publishing it: its decision comes all the same
    except Exception:
        pass  # logged by _log_failure; the PBX gets the desk


def _log_failure(task: asyncio.Future[Outcome]) -> None:
    if not task.cancelled() and isinstance(task.exception(), Exception) and not isinstance(
            task.exception(), CallBusy):
        log.error("publishing a routed call failed: %r", task.exception())
