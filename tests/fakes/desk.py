"""The desk's ports in memory (`services.desk.service`): its own tables, the sales screens'
reads, the assignment's inbox API and the lookup's client-base API (as recorded calls), and
the access store: people, their sessions and sign-in, invitation links, the audit log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from services.desk.lookup_api import ApiAnswer, OnBehalf
from services.desk.policy import ClientRecord, DeskCall, merged
from services.desk.sales import Colleague, MyLead
from services.desk.service import (AuditPort, ClientBaseApiPort, DeskCallsPort, InboxApiPort,
                                   InvitationLinksPort, QualificationClaim, SalesPort)
from shared.access.credentials import hash_password, token_hash
from shared.access.principals import Principal
from shared.access.store import Invitation, InvitationUsed, Session
from shared.events import CallEnriched, CallQualified, utcnow


class FakeAccessStore(AuditPort, InvitationLinksPort):
    """The access store in memory: its people (`add_person`), their sessions, sign-in
    failures and invitation links, and the audit lines written. `AccessStore` itself is a
    class, not a port: this fake has the part of it that the desk's requests use (a signed-in
    person's session or token, `shared.access.http.sign_in`, "sign out everywhere") and the
    invitation page's port."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.audited: list[tuple[str, str | None]] = []
        self.people: dict[str, Principal] = {}  # lower-case e-mail: person
        self.passwords: dict[str, str] = {}  # lower-case e-mail: password hash
        self.failures: list[tuple[str, datetime]] = []  # sign-in attempts counted
        self.invitations: dict[str, Invitation] = {}  # token hash: link
        self.closed: list[uuid.UUID] = []  # whose sessions all ended, in order

    def add_person(self, principal: Principal, password: str | None = None) -> Principal:
        """Someone who can sign in (with `password`), or be invited."""
        self.people[principal.name.lower()] = principal
        if password is not None:
            self.passwords[principal.name.lower()] = hash_password(password)
        return principal

    def invite(self, principal: Principal, token: str, expires_at: datetime) -> Invitation:
        """A link with which `principal` sets their password."""
        self.add_person(principal)
        link = Invitation(principal.employee_id, principal.name,  # type: ignore[arg-type]
                          principal.locale, expires_at, None)
        self.invitations[token_hash(token)] = link
        return link

    def sign_in(self, principal: Principal) -> tuple[str, str]:
        """A session opened at once, without a password: (the session cookie, its CSRF
        token)."""
        cookie, csrf = f"cookie-{uuid.uuid4().hex}", f"csrf-{uuid.uuid4().hex}"
        self.sessions[token_hash(cookie)] = Session(principal, csrf, utcnow() + timedelta(days=1))
        return cookie, csrf

    # --- what a request asks ----------------------------------------------------------------

    async def session(self, session_hash: str, now: datetime, idle: timedelta
                      ) -> Session | None:
        return self.sessions.get(session_hash)

    async def token_principal(self, token_hash: str, now: datetime) -> Principal | None:
        return None

    async def open_session(self, session_hash: str, employee_id: uuid.UUID, csrf_token: str,
                           now: datetime, expires_at: datetime, address: str | None) -> None:
        principal = next(p for p in self.people.values() if p.employee_id == employee_id)
        self.sessions[session_hash] = Session(principal, csrf_token, expires_at)

    async def close_session(self, session_hash: str, now: datetime) -> None:
        self.sessions.pop(session_hash, None)

    async def close_all_sessions(self, employee_id: uuid.UUID, now: datetime) -> int:
        ended = [key for key, session in self.sessions.items()
                 if session.principal.employee_id == employee_id]
        for key in ended:
            del self.sessions[key]
        self.closed.append(employee_id)
        return len(ended)

    async def account(self, email: str) -> tuple[Principal, str | None] | None:
        key = email.strip().lower()
        return (self.people[key], self.passwords.get(key)) if key in self.people else None

    async def count_attempt(self, keys: list[str], now: datetime, since: datetime
                            ) -> dict[str, int]:
        self.failures += [(key, now) for key in keys]
        return {key: sum(1 for k, at in self.failures if k == key and at > since)
                for key in keys}

    async def uncount_attempt(self, keys: list[str], now: datetime) -> None:
        for key in keys:
            if (key, now) in self.failures:
                self.failures.remove((key, now))

    async def clear_failures(self, key: str) -> None:
        self.failures = [(k, at) for k, at in self.failures if k != key]

    async def audit(self, principal: Principal | None, action: str, subject: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        self.audited.append((action, subject))

    # --- the invitation page's port ---------------------------------------------------------

    async def invitation(self, token_hash: str) -> Invitation | None:
        return self.invitations.get(token_hash)

    async def use_invitation(self, token_hash: str, password_hash: str, now: datetime
                             ) -> InvitationUsed | None:
        link = self.invitations.get(token_hash)
        if link is None or link.used_at is not None or link.expires_at <= now:
            return None
        self.invitations[token_hash] = replace(link, used_at=now)
        self.passwords[link.email.lower()] = password_hash
        ended = await self.close_all_sessions(link.employee_id, now)
        return InvitationUsed(link.employee_id, link.email, ended)


class FakeQualificationClaim(QualificationClaim):
    def __init__(self, calls: FakeDeskCalls, call_id: str) -> None:
        self.calls, self.call_id = calls, call_id
        self.existing = calls.qualified.get(call_id)

    async def record(self, event: CallQualified, comment: str | None, by: str) -> None:
        self.calls.qualified[self.call_id] = event
        self.calls.comments[self.call_id] = (comment, by)


class FakeDeskCalls(DeskCallsPort):
    """The desk's own tables: the calls it heard of (each part kept from the first event that
    told it, as the table keeps them), their verdicts, people's languages, client records."""

    def __init__(self, clients: dict[uuid.UUID, ClientRecord] | None = None) -> None:
        self.calls: dict[str, DeskCall] = {}
        self.qualified: dict[str, CallQualified] = {}
        self.comments: dict[str, tuple[str | None, str]] = {}  # call: (comment, by whom)
        self.locales: dict[uuid.UUID, str] = {}
        self.clients = clients or {}

    async def record(self, call: DeskCall) -> None:
        stored = self.calls.get(call.call_id)
        self.calls[call.call_id] = merged(stored, call) if stored else call

    async def open_calls(self, since: datetime, limit: int = 500) -> list[DeskCall]:
        open_ = [c for c in self.calls.values()
                 if c.call_id not in self.qualified and c.started_at > since]
        return sorted(open_, key=lambda c: c.started_at, reverse=True)[:limit]

    async def find(self, call_id: str) -> DeskCall | None:
        return self.calls.get(call_id)

    @asynccontextmanager
    async def qualifying(self, call: DeskCall) -> AsyncIterator[QualificationClaim]:
        await self.record(call)
        yield FakeQualificationClaim(self, call.call_id)

    async def save_locale(self, employee_id: uuid.UUID, locale: str) -> None:
        self.locales[employee_id] = locale

    async def client_record(self, client_id: uuid.UUID) -> ClientRecord | None:
        return self.clients.get(client_id)


@dataclass
class FakeSales(SalesPort):
    """What the sales screens read, as given; `leads_of` gives all of a person's leads."""

    colleagues_: list[Colleague] = field(default_factory=list)
    leads: dict[uuid.UUID, MyLead] = field(default_factory=dict)
    shopping: list[CallEnriched] = field(default_factory=list)
    hours: list[tuple[datetime, str | None, int]] = field(default_factory=list)
    days: list[tuple[date, int]] = field(default_factory=list)
    strategies: list[tuple[str, int]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    async def colleagues(self) -> list[Colleague]:
        return list(self.colleagues_)

    async def leads_of(self, employee_id: uuid.UUID, closed_since: datetime) -> list[MyLead]:
        return [lead for lead in self.leads.values() if lead.employee_id == employee_id]

    async def lead(self, lead_id: uuid.UUID) -> MyLead | None:
        return self.leads.get(lead_id)

    async def shopping_calls(self, since: datetime, owner_id: uuid.UUID | None = None,
                             limit: int = 30) -> list[CallEnriched]:
        return [c for c in self.shopping if owner_id is None or (
            c.ownership is not None and c.ownership.owner.employee_id == owner_id)]

    async def calls_per_hour(self, since: datetime, zone: str
                             ) -> list[tuple[datetime, str | None, int]]:
        return list(self.hours)

    async def alerts_per_day(self, since: datetime, zone: str) -> list[tuple[date, int]]:
        return list(self.days)

    async def commercial_strategies(self, since: datetime) -> list[tuple[str, int]]:
        return list(self.strategies)

    async def assignment_delays(self, since: datetime) -> list[float]:
        return list(self.delays)


@dataclass
class FakeInboxApi(InboxApiPort):
    """The assignment's inbox API: `leads` as the inbox, `answers` by call ("inbox", "keep",
    "assign") instead of the usual 200, and each call made."""

    leads: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, ApiAnswer] = field(default_factory=dict)
    calls: list[tuple[str, uuid.UUID | None, OnBehalf, Any]] = field(default_factory=list)

    async def inbox(self, person: OnBehalf) -> ApiAnswer:
        self.calls.append(("inbox", None, person, None))
        return self.answers.get("inbox") or ApiAnswer(
            200, body={"count": len(self.leads), "leads": list(self.leads)})

    async def keep(self, lead_id: uuid.UUID, person: OnBehalf) -> ApiAnswer:
        self.calls.append(("keep", lead_id, person, None))
        return self.answers.get("keep") or ApiAnswer(200, body={"employee_name": "Head"})

    async def assign(self, lead_id: uuid.UUID, employee_id: uuid.UUID, person: OnBehalf
                     ) -> ApiAnswer:
        self.calls.append(("assign", lead_id, person, employee_id))
        return self.answers.get("assign") or ApiAnswer(200, body={"employee_name": "Anna"})


@dataclass
class FakeLookupApi(ClientBaseApiPort):
    """The lookup's client-base API: every outcome posted is kept and answered `answer`."""

    answer: ApiAnswer = field(default_factory=lambda: ApiAnswer(202, body={}))
    outcomes: list[tuple[uuid.UUID, dict[str, Any], OnBehalf]] = field(default_factory=list)
    clients: list[tuple[str, dict[str, Any], OnBehalf]] = field(default_factory=list)

    async def put_client(self, external_id: str, body: dict[str, Any], person: OnBehalf
                         ) -> ApiAnswer:
        self.clients.append((external_id, body, person))
        return ApiAnswer(200)

    async def post_outcome(self, lead_id: uuid.UUID, body: dict[str, Any], person: OnBehalf
                           ) -> ApiAnswer:
        self.outcomes.append((lead_id, body, person))
        return self.answer
