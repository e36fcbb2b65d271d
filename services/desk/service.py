"""The desk's use cases: keep the calls people see (from Kafka), draw a person's operator
screen, qualify a call (publish `CallQualified`), save a person's language, and pass a
person's corrections of the client base on to the lookup."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel

from services.desk.i18n import LOCALES
from services.desk.live import Live
from services.desk.lookup_api import ApiAnswer, OnBehalf
from services.desk.policy import (ClientRecord, DeskCall, DeskEvent, DeskRules, Reason, heard,
                                  merged, new_client_id, on_operator_screen, qualified_event,
                                  same_verdict, without_number)
from shared import topics
from shared.access.principals import Principal
from shared.events import CallQualified, Segment, utcnow
from shared.kafka import Publisher
from shared.wiring import Dependencies


class QualificationClaim(Protocol):
    existing: CallQualified | None

    async def record(self, event: CallQualified, comment: str | None, by: str) -> None: ...


class DeskCallsPort(Protocol):
    """What the use cases need from the desk's tables (`repository.DeskStore`)."""

    async def record(self, call: DeskCall) -> None: ...

    async def open_calls(self, since: datetime, limit: int = 500) -> list[DeskCall]: ...

    async def find(self, call_id: str) -> DeskCall | None: ...

    def qualifying(self, call: DeskCall) -> AbstractAsyncContextManager[QualificationClaim]: ...

    async def save_locale(self, employee_id: uuid.UUID, locale: str) -> None: ...

    async def client_record(self, client_id: uuid.UUID) -> ClientRecord | None: ...


class ClientBaseApiPort(Protocol):
    """The lookup's client-base API (`lookup_api.LookupApi`)."""

    async def put_client(self, external_id: str, body: dict[str, Any], person: OnBehalf
                         ) -> ApiAnswer: ...


class AuditPort(Protocol):
    async def audit(self, principal: Principal | None, action: str, subject: str | None = None,
                    detail: dict[str, Any] | None = None) -> None: ...


@dataclass(frozen=True)
class Desk(Dependencies):
    calls: DeskCallsPort
    clients: ClientBaseApiPort
    audit: AuditPort
    publisher: Publisher
    live: Live
    rules: DeskRules


# --- from Kafka -----------------------------------------------------------------------------


async def record_call(deps: Desk, event: DeskEvent) -> None:
    """What an event tells of a call is kept, so a page drawn later shows it."""
    call = heard(None, event)
    if call is not None:
        await deps.calls.record(call)


# --- the operator's screen ------------------------------------------------------------------


async def recent_calls(deps: Desk, now: datetime) -> list[DeskCall]:
    """The calls of the card's lifetime, as the database has them and as this replica heard
    of them since (the database may be a moment behind the live updates)."""
    since = now - deps.rules.card_lifetime
    found = {c.call_id: c for c in await deps.calls.open_calls(since)}
    for call in deps.live.recent.all():
        if call.started_at <= since:
            continue
        stored = found.get(call.call_id)
        found[call.call_id] = merged(call, stored) if stored else call
    return sorted(found.values(), key=lambda c: c.started_at, reverse=True)


async def operator_calls(deps: Desk, viewer: Principal, now: datetime) -> list[DeskCall]:
    """The calls on a person's operator screen now, newest first."""
    return [call for call in await recent_calls(deps, now)
            if on_operator_screen(viewer, call, now, deps.rules)]


async def find_call(deps: Desk, call_id: str) -> DeskCall | None:
    stored, heard_here = await deps.calls.find(call_id), deps.live.recent.get(call_id)
    if stored and heard_here:
        return merged(heard_here, stored)
    return stored or heard_here


# --- the verdict ----------------------------------------------------------------------------


class Outcome(StrEnum):
    QUALIFIED = "qualified"
    ALREADY = "already qualified"  # the same verdict again: nothing changes
    CONFLICT = "qualified otherwise"  # another verdict was given first
    UNKNOWN_CALL = "unknown call"
    NO_OPERATOR = "no operator"  # an integration must name the operator who answered


@dataclass(frozen=True)
class Qualification:
    outcome: Outcome
    event: CallQualified | None = None


async def qualify(deps: Desk, principal: Principal, call_id: str, verdict: BaseModel
                  ) -> Qualification:
    """A call gets one verdict: it is published on calls.qualified once Kafka acknowledged it,
    and recorded with the call in the same transaction (a crash in between publishes the
    same event id again on the next try). Audited as `call.qualify`."""
    call = await find_call(deps, call_id)
    if call is None:
        return Qualification(Outcome.UNKNOWN_CALL)
    operator_id = principal.employee_id or getattr(verdict, "operator_id", None)
    if operator_id is None:
        return Qualification(Outcome.NO_OPERATOR)
    async with deps.calls.qualifying(call) as claim:
        if claim.existing is not None:
            outcome = (Outcome.ALREADY if same_verdict(verdict, claim.existing)
                       else Outcome.CONFLICT)
            return Qualification(outcome, claim.existing)
        event = qualified_event(call, verdict, operator_id, utcnow())
        await deps.publisher.publish(topics.CALLS_QUALIFIED, event,
                                     key=topics.event_key(event.client_id, event.call_id))
        comment = getattr(verdict, "comment", None)
        await claim.record(event, comment, principal.name)
    deps.live.hear(event)  # this replica's screens at once; the others hear it on Kafka
    await deps.audit.audit(principal, "call.qualify", call_id, {
        "category": event.category.value, "deal_value": event.deal_value,
        "currency": event.currency, "company_size": event.company_size,
        "corporate": event.corporate, "product": event.product, "comment": comment})
    return Qualification(Outcome.QUALIFIED, event)


# --- a person's language --------------------------------------------------------------------


async def save_locale(deps: Desk, principal: Principal, locale: str) -> bool:
    """False for a language the screens do not have."""
    if locale not in LOCALES or principal.employee_id is None:
        return False
    await deps.calls.save_locale(principal.employee_id, locale)
    return True


# --- corrections of the client base, through the lookup -------------------------------------


async def create_client(deps: Desk, person: OnBehalf, call: DeskCall, name: str,
                        segment: Segment) -> ApiAnswer:
    """An unknown caller becomes a client with the number they call from."""
    assert call.caller is not None
    return await deps.clients.put_client(
        new_client_id(call.call_id),
        {"name": name, "segment": segment.value, "phones": [call.caller]}, person)


async def not_this_client(deps: Desk, person: OnBehalf, call: DeskCall
                          ) -> ApiAnswer | Reason:
    """A wrong match: the number leaves the client it was matched to."""
    client = call.enriched.client if call.enriched else None
    if client is None or call.caller is None:
        return Reason("client.not_matched")
    record = await deps.calls.client_record(client.client_id)
    if record is None:
        return Reason("client.not_matched")
    body = without_number(record, call.caller)
    if isinstance(body, Reason):
        return body
    assert record.external_id is not None
    return await deps.clients.put_client(record.external_id, body, person)
