"""The desk's use cases: keep the calls people see (from Kafka), draw a person's operator
screen, qualify a call (publish `CallQualified`), save a person's language, and pass a
person's corrections of the client base on to the lookup; the sales screens: the head of
sales' inbox (its leads from the assignment, kept or passed on through it), a person's own
leads and calls, a lead's outcome (through the lookup, to deals.closed), the shopping-around
alerts and the head's dashboard; and the invitation link with which a person sets their
password."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from services.desk import dashboard as board
from services.desk.i18n import LOCALES
from services.desk.invitations import LinkState, link_state
from services.desk.live import Live
from services.desk.lookup_api import ApiAnswer, OnBehalf
from services.desk.policy import (ClientRecord, DeskCall, DeskEvent, DeskRules, Reason, heard,
                                  merged, new_client_id, on_operator_screen, on_own_line,
                                  qualified_event, same_verdict, without_number)
from services.desk.sales import (CLOSED_SHOWN, Alert, Candidate, Colleague, InboxRow,
                                 LeadStatus, MyLead, Reported, alert_of_call, candidates,
                                 inbox_rows, leads_shown, newest_alerts, outcome_body,
                                 with_reported)
from shared import topics
from shared.access.credentials import new_password_hash, token_hash
from shared.access.principals import Principal
from shared.access.store import Invitation, InvitationUsed
from shared.events import CallEnriched, CallQualified, Segment, utcnow
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

    async def post_outcome(self, lead_id: uuid.UUID, body: dict[str, Any], person: OnBehalf
                           ) -> ApiAnswer: ...


class InboxApiPort(Protocol):
    """The assignment's inbox API (`assignment_api.AssignmentApi`)."""

    async def inbox(self, person: OnBehalf) -> ApiAnswer: ...

    async def keep(self, lead_id: uuid.UUID, person: OnBehalf) -> ApiAnswer: ...

    async def assign(self, lead_id: uuid.UUID, employee_id: uuid.UUID, person: OnBehalf
                     ) -> ApiAnswer: ...


class SalesPort(Protocol):
    """What the sales screens read of the client base and the assignment's tables
    (`repository.DeskStore`)."""

    async def colleagues(self) -> list[Colleague]: ...

    async def leads_of(self, employee_id: uuid.UUID, closed_since: datetime) -> list[MyLead]: ...

    async def lead(self, lead_id: uuid.UUID) -> MyLead | None: ...

    async def shopping_calls(self, since: datetime, owner_id: uuid.UUID | None = None,
                             limit: int = 30) -> list[CallEnriched]: ...

    async def calls_per_hour(self, since: datetime, zone: str
                             ) -> list[tuple[datetime, str | None, int]]: ...

    async def alerts_per_day(self, since: datetime, zone: str) -> list[tuple[date, int]]: ...

    async def commercial_strategies(self, since: datetime) -> list[tuple[str, int]]: ...

    async def assignment_delays(self, since: datetime) -> list[float]: ...


class InvitationLinksPort(Protocol):
    """What the invitation page takes of the access store (`shared.access.store.AccessStore`,
    the same calls the lookup's `POST /v1/invitations/{token}` makes)."""

    async def invitation(self, token_hash: str) -> Invitation | None: ...

    async def use_invitation(self, token_hash: str, password_hash: str, now: datetime
                             ) -> InvitationUsed | None: ...

    async def audit(self, principal: Principal | None, action: str, subject: str | None = None,
                    detail: dict[str, Any] | None = None) -> None: ...


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
    sales: SalesPort
    inbox: InboxApiPort


@dataclass(frozen=True)
class Invitations(Dependencies):
    """The invitation link's page, which nobody is signed in to yet."""

    links: InvitationLinksPort


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


# --- the head of sales' inbox ---------------------------------------------------------------

# The shopping-around alerts a page shows: of the last week, the newest first.
ALERTS_WINDOW = timedelta(days=7)
ALERTS_SHOWN = 12


@dataclass(frozen=True)
class Inbox:
    """The leads waiting for the head, each kind of lead with its candidates; `refused` is
    the assignment's answer when it gave no inbox (away, or the session ended)."""

    rows: list[InboxRow]
    candidates: dict[tuple[str, str], list[Candidate]] = field(default_factory=dict)
    refused: ApiAnswer | None = None


async def waiting_leads(deps: Desk, person: OnBehalf) -> Inbox:
    """The inbox as the assignment has it now, with the negotiators' chances on each kind of
    lead in it."""
    answer = await deps.inbox.inbox(person)
    if not answer.ok:
        return Inbox([], refused=answer)
    rows = inbox_rows(answer.body)
    if not rows:
        return Inbox(rows)
    colleagues = await deps.sales.colleagues()
    return Inbox(rows, {kind: candidates(colleagues, kind, deps.rules.prior_strength)
                        for kind in {row.kind for row in rows}})


async def keep_lead(deps: Desk, person: OnBehalf, lead_id: uuid.UUID) -> ApiAnswer:
    """The head keeps the lead (the assignment decides, audits and announces it)."""
    return await deps.inbox.keep(lead_id, person)


async def assign_lead(deps: Desk, person: OnBehalf, lead_id: uuid.UUID,
                      employee_id: uuid.UUID) -> ApiAnswer:
    """The head passes the lead to a negotiator (the assignment checks they can take it)."""
    return await deps.inbox.assign(lead_id, employee_id, person)


async def department_alerts(deps: Desk, now: datetime) -> list[Alert]:
    """The shopping-around alerts of the last week, every client's: the head of sales hears
    of them all."""
    calls = await deps.sales.shopping_calls(now - ALERTS_WINDOW, limit=ALERTS_SHOWN)
    return newest_alerts(filter(None, map(alert_of_call, calls)), ALERTS_SHOWN)


# --- a person's own leads and calls ---------------------------------------------------------


async def own_calls(deps: Desk, viewer: Principal, now: datetime) -> list[DeskCall]:
    """The calls ringing (or just answered) at the person's own line, newest first."""
    return [call for call in await recent_calls(deps, now)
            if on_own_line(viewer, call, now, deps.rules)]


async def own_leads(deps: Desk, viewer: Principal, now: datetime
                    ) -> dict[LeadStatus, list[MyLead]]:
    if viewer.employee_id is None:
        return {status: [] for status in LeadStatus}
    leads = await deps.sales.leads_of(viewer.employee_id, now - CLOSED_SHOWN)
    return leads_shown(leads, deps.live.outcomes.all(), now)


async def own_alerts(deps: Desk, viewer: Principal, now: datetime) -> list[Alert]:
    """The shopping-around alerts of the person's own clients, of the last week."""
    if viewer.employee_id is None:
        return []
    calls = await deps.sales.shopping_calls(now - ALERTS_WINDOW, viewer.employee_id,
                                            ALERTS_SHOWN)
    return newest_alerts(filter(None, map(alert_of_call, calls)), ALERTS_SHOWN)


async def find_lead(deps: Desk, lead_id: uuid.UUID) -> MyLead | None:
    """The lead as the database has it, closed already by an outcome this replica heard of."""
    lead = await deps.sales.lead(lead_id)
    return with_reported(lead, deps.live.outcomes.get(lead_id)) if lead else None


# --- a lead's outcome -----------------------------------------------------------------------


class Closing(StrEnum):
    RECORDED = "recorded"  # published to deals.closed
    ALREADY = "already"  # reported so before: nothing published again
    REFUSED = "refused"  # the lookup refused it (another outcome first, a bad field...)


@dataclass(frozen=True)
class OutcomeDone:
    result: Closing
    lead: MyLead
    answer: ApiAnswer


async def record_outcome(deps: Desk, person: OnBehalf, lead: MyLead, outcome: BaseModel
                         ) -> OutcomeDone:
    """The lead's outcome goes to the lookup's `POST /v1/leads/{lead_id}/outcome`, which
    publishes DealClosed to deals.closed once (its event id follows from the lead) and audits
    it; the lead shows closed at once on this replica's screens."""
    answer = await deps.clients.post_outcome(lead.lead_id, outcome_body(outcome), person)
    if not answer.ok:
        return OutcomeDone(Closing.REFUSED, lead, answer)
    reported = Reported(LeadStatus(outcome.outcome),  # type: ignore[attr-defined]
                        outcome.final_value, outcome.currency,  # type: ignore[attr-defined]
                        utcnow())
    deps.live.outcomes.put(lead.lead_id, reported)
    result = Closing.RECORDED if answer.status == 202 else Closing.ALREADY
    return OutcomeDone(result, with_reported(lead, reported), answer)


# --- the dashboard --------------------------------------------------------------------------

# How far back each picture looks.
CALLS_HOURS = 24
ALERT_DAYS = 14
LEADS_DAYS = 30


@dataclass(frozen=True)
class Dashboard:
    calls: board.HourlyCalls
    alerts: board.DailyCounts
    kept: board.KeptShare
    delays: board.Delays
    wins: board.WinRates
    drawn_at: datetime


async def dashboard(deps: Desk, now: datetime) -> Dashboard:
    """The head's pictures, drawn from the database."""
    zone = deps.rules.time_zone
    local = now.astimezone(ZoneInfo(zone))
    hour_start = local.replace(minute=0, second=0, microsecond=0)
    calls = await deps.sales.calls_per_hour(hour_start - timedelta(hours=CALLS_HOURS - 1), zone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    alerts = await deps.sales.alerts_per_day(day_start - timedelta(days=ALERT_DAYS - 1), zone)
    since = now - timedelta(days=LEADS_DAYS)
    return Dashboard(
        calls=board.hourly_calls(calls, local, CALLS_HOURS),
        alerts=board.daily_counts(alerts, local.date(), ALERT_DAYS),
        kept=board.kept_share(await deps.sales.commercial_strategies(since)),
        delays=board.delays(await deps.sales.assignment_delays(since)),
        wins=board.win_rates(await deps.sales.colleagues(), deps.rules.prior_strength),
        drawn_at=now,
    )


# --- the invitation link --------------------------------------------------------------------


async def invitation_link(links: InvitationLinksPort, token: str, now: datetime
                          ) -> tuple[LinkState, Invitation | None]:
    invitation = await links.invitation(token_hash(token))
    return link_state(invitation, now), invitation


async def set_invited_password(links: InvitationLinksPort, token: str, password: str,
                               now: datetime) -> bool:
    """The link's one use sets the password and ends the person's sessions (False: it was
    used or expired meanwhile). Audited as `password.set`."""
    used = await links.use_invitation(token_hash(token), await new_password_hash(password), now)
    if used is None:
        return False
    await links.audit(None, "password.set", used.email,
                      {"by": "invitation", "sessions_ended": used.sessions_ended})
    return True
