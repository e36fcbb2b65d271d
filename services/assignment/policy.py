"""Who gets a lead: pure rules, no I/O, the clock passed in.

The router says where a call goes; this module says what lead that makes and who works it:

- routed to the **owner** (or, while the owner is away, the head of the owner's department):
  when it rings, a contact, not a lead; once qualified as commercial, a lead of that
  employee whatever their load — the client is theirs — or, when the client has an open lead
  of that employee, the call joins it: one lead per deal;
- routed to the **client department** at the qualified stage (a small or medium commercial
  lead): the operator who qualified the call while under capacity, else the least loaded
  available operator of the department; at the ring stage the desk only answers: no lead yet;
- routed to the **commercial department**: the head of sales keeps it at once (keep.py) or it
  waits in the head's inbox until the deadline, then the strongest available negotiator
  (strength.py) takes it;
- **non-commercial**: no lead.

A new lead's id is derived from the call that makes it, and the first stage that makes a lead
creates it; a later stage of the same call only fills in what the lead lacks (value, size).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from services.assignment.keep import KeepRules, Kept, RecentFlow, decide_keep
from services.assignment.strength import LeadKind, Negotiator, Scored, expected_value, rank
from shared import business
from shared.chances import DepartmentRecord, chance, department_average
from shared.events import (
    CallRouted,
    Category,
    Department,
    Destination,
    LeadAssigned,
    ScoredCandidate,
    Stage,
    Strategy,
    derive_event_id,
    stable_id,
)
from shared.settings import AssignmentSettings


class Track(StrEnum):
    """Which way a lead goes."""

    OWNER = "owner"
    CLIENT_DEPARTMENT = "client_department"
    COMMERCIAL_DEPARTMENT = "commercial_department"


@dataclass(frozen=True)
class LeadPlan:
    """The lead a routed call makes, before anyone is chosen for it."""

    lead_id: uuid.UUID
    track: Track
    employee_id: uuid.UUID | None  # the owner, or the operator who qualified the call
    strategy: Strategy | None  # known up front for the owner and the client department
    kind: LeadKind
    value: Decimal | None
    currency: str | None
    at: datetime  # when the decision is made


@dataclass(frozen=True)
class AssignmentRules:
    keep: KeepRules = field(default_factory=KeepRules)
    # The head's time to act on an inbox lead.
    deadline: timedelta = timedelta(seconds=business.INBOX_DEADLINE_SECONDS)
    # A due lead nobody could take is tried again.
    retry: timedelta = timedelta(seconds=business.RETRY_SECONDS)
    prior_strength: float = business.PRIOR_STRENGTH
    runners_up: int = business.RUNNERS_UP
    ownership_lapse: timedelta = timedelta(days=business.OWNERSHIP_LAPSE_DAYS)
    # Top share: how far back "recent" goes.
    keep_window: timedelta = timedelta(days=business.KEEP_WINDOW_DAYS)

    @classmethod
    def from_settings(cls, settings: AssignmentSettings) -> AssignmentRules:
        return cls(
            keep=KeepRules(mode=settings.keep_mode, thresholds=dict(settings.keep_thresholds),
                           top_share=settings.keep_top_share,
                           low_volume_per_hour=settings.low_volume_per_hour),
            deadline=timedelta(seconds=settings.inbox_deadline_seconds),
            retry=timedelta(seconds=settings.retry_seconds),
            prior_strength=settings.prior_strength,
            runners_up=settings.runners_up,
            ownership_lapse=timedelta(days=settings.ownership_lapse_days),
            keep_window=timedelta(days=settings.keep_window_days),
        )


def lead_id_for(call_id: str) -> uuid.UUID:
    """The id of the lead a call makes, derived from the call, so a redelivery finds it."""
    return stable_id("lead", call_id)


def plan_lead(routed: CallRouted, *, now: datetime,
              owner_at_ring: uuid.UUID | None = None) -> LeadPlan | None:
    """The lead a routed call makes, or None.

    - A call routed to the owner (or to the head covering for them) is a contact while it
      rings: no lead. Once qualified as commercial, whoever qualified it and wherever the
      router would send such a call, it is that employee's: `owner_at_ring` is whom the
      call's ring decision sent it to as the client's owner (None: it did not go to the owner).
      The lead store joins it to the client's open lead of that employee, if there is one.
    - A call for the client department desk is not a lead yet (the desk first finds out what
      the caller wants); a non-commercial call never is."""
    if routed.destination == Destination.NON_COMMERCIAL or routed.category not in (
            None, Category.COMMERCIAL):
        return None
    base = {"lead_id": lead_id_for(routed.call_id),
            "kind": LeadKind.of(routed.segment, routed.size_class),
            "value": routed.deal_value, "currency": routed.currency, "at": now}
    owner = owner_at_ring if routed.stage == Stage.QUALIFIED else None
    if routed.destination == Destination.OWNER:
        if routed.stage == Stage.RING:
            return None  # a contact: whether it is a deal, the owner finds out
        owner = routed.employee_id
    if owner is not None:
        return LeadPlan(track=Track.OWNER, employee_id=owner, strategy=Strategy.OWNER, **base)
    if routed.destination == Destination.CLIENT_DEPARTMENT and routed.stage == Stage.QUALIFIED:
        return LeadPlan(track=Track.CLIENT_DEPARTMENT,
                        employee_id=routed.operator_id or routed.employee_id,
                        strategy=Strategy.CLIENT_DEPARTMENT, **base)
    if routed.destination == Destination.COMMERCIAL_DEPARTMENT:
        return LeadPlan(track=Track.COMMERCIAL_DEPARTMENT, employee_id=None, strategy=None,
                        **base)
    return None


# ------------------------------------------------------------------ the client department


def choose_operator(operator_id: uuid.UUID | None,
                    operators: Sequence[Negotiator]) -> Negotiator | None:
    """A client department lead goes to the operator who qualified the call while they have
    room; else to the least loaded available operator of the department. When the whole
    department is full it stays with the operator who qualified it: they have the caller on
    the line, and no lead may be lost. None only when nobody at all can take it."""
    qualifier = next((o for o in operators if o.employee_id == operator_id), None)
    if qualifier is not None and qualifier.available:
        return qualifier
    available = [o for o in operators if o.available]
    if available:
        return min(available, key=lambda o: (o.load, -o.room, o.name, str(o.employee_id)))
    if qualifier is not None and qualifier.active:
        return qualifier
    return None


# ----------------------------------------------------------- the commercial department


@dataclass(frozen=True)
class Choice:
    """Who gets a commercial lead and how they compared."""

    employee: Negotiator
    strategy: Strategy
    score: float
    runners_up: list[Scored]
    reason: str = ""


@dataclass(frozen=True)
class ToInbox:
    due_at: datetime


def lead_expected_value(value: Decimal | None, department: DepartmentRecord,
                        strength: float) -> float | None:
    """What a lead is worth to the company: its value x the department's chance to close its
    kind. What the top-share keep rule ranks."""
    if value is None:
        return None
    return expected_value(department_average(department, strength), value)


def on_arrival(
    plan: LeadPlan,
    heads: Sequence[Negotiator],
    negotiators: Sequence[Negotiator],
    department: DepartmentRecord,
    flow: RecentFlow,
    rules: AssignmentRules,
) -> Choice | ToInbox:
    """A new commercial lead: the head keeps it (keep.py), or it waits in the head's inbox
    until the deadline."""
    kept = decide_keep(heads, plan.value, plan.currency,
                       lead_expected_value(plan.value, department, rules.prior_strength),
                       flow, rules.keep)
    if kept is None:
        return ToInbox(plan.at + rules.deadline)
    return _choice_of_keeping_head(kept, negotiators, department, plan.value, rules)


def _choice_of_keeping_head(kept: Kept, negotiators: Sequence[Negotiator],
                            department: DepartmentRecord, value: Decimal | None,
                            rules: AssignmentRules) -> Choice:
    """The lead goes to the head who keeps it; the negotiators rank as runners-up."""
    p = chance(kept.head.record, department_average(department, rules.prior_strength),
               rules.prior_strength)
    others = rank(negotiators, department, value, rules.prior_strength)
    return Choice(kept.head, Strategy.HEAD_KEPT, expected_value(p, value),
                  others[:rules.runners_up], kept.reason)


def distribute(
    negotiators: Sequence[Negotiator],
    department: DepartmentRecord,
    value: Decimal | None,
    rules: AssignmentRules,
) -> Choice | None:
    """Past the deadline: the available negotiator with the highest expected value (the least
    loaded on a tie) takes the lead; None when nobody can (it stays in the inbox)."""
    ranked = rank(negotiators, department, value, rules.prior_strength)
    if not ranked:
        return None
    best = ranked[0]
    return Choice(best.negotiator, Strategy.STRONGEST_AVAILABLE, best.score,
                  ranked[1:1 + rules.runners_up],
                  f"the strongest available: chance {best.chance:.0%}")


class Refused(Exception):
    """A request of the head that the rules refuse; `kind` says how."""

    def __init__(self, kind: Literal["unauthenticated", "forbidden", "not_found", "conflict",
                                      "invalid"], reason: str, where: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.where = where


@dataclass(frozen=True)
class InboxLead:
    """A lead waiting in the head's inbox."""

    lead_id: uuid.UUID
    call_id: str
    client_id: uuid.UUID | None
    client_name: str | None
    caller: str | None
    segment: str | None
    size_class: str | None
    value: Decimal | None
    currency: str | None
    arrived_at: datetime
    due_at: datetime
    attempts: int  # deadline passes at which nobody could take it

    def waiting(self, now: datetime) -> timedelta:
        return now - self.arrived_at

    def left(self, now: datetime) -> timedelta:
        return self.due_at - now


def head_may_act(lead: InboxLead | None, now: datetime) -> None:
    """The head acts on a lead only while it is in the inbox and before its deadline (a lead
    nobody could take at its deadline gets a new one)."""
    if lead is None:
        raise Refused("conflict", "the lead is not in the inbox: it was kept, assigned or "
                      "distributed already", "lead_id")
    if now >= lead.due_at:
        raise Refused("conflict", f"the deadline passed at {lead.due_at.isoformat()}: the lead "
                      "is being distributed", "lead_id")


def head_assigns(
    lead: InboxLead,
    target: uuid.UUID,
    negotiators: Sequence[Negotiator],
    department: DepartmentRecord,
    rules: AssignmentRules,
) -> Choice:
    """The head passes the lead to a negotiator of their choice, who must be able to take it
    (working here, not on leave, under capacity)."""
    person = next((n for n in negotiators if n.employee_id == target), None)
    if person is None:
        raise Refused("invalid", f"{target} is not a negotiator of the commercial department",
                      "employee_id")
    if not person.available:
        why = ("has left" if not person.active else "is on leave" if person.on_leave
               else f"is at capacity ({person.load} of {person.capacity} leads)")
        raise Refused("conflict", f"{person.name} {why}", "employee_id")
    ranked = rank(negotiators, department, lead.value, rules.prior_strength)
    chosen = next(s for s in ranked if s.negotiator.employee_id == target)
    others = [s for s in ranked if s.negotiator.employee_id != target]
    return Choice(person, Strategy.HEAD_ASSIGNED, chosen.score, others[:rules.runners_up],
                  "chosen by the head of sales")


def head_keeps_from_inbox(
    lead: InboxLead,
    head: Negotiator,
    negotiators: Sequence[Negotiator],
    department: DepartmentRecord,
    rules: AssignmentRules,
) -> Choice:
    """The head keeps a lead from the inbox: only while under capacity."""
    if not head.available:
        raise Refused("conflict", f"{head.name} is at capacity ({head.load} of "
                      f"{head.capacity} leads)", "lead_id")
    return _choice_of_keeping_head(Kept(head, "kept by the head of sales"), negotiators,
                                   department, lead.value, rules)


# ------------------------------------------------------------------ the outcome


@dataclass(frozen=True)
class LeadToClose:
    """A lead a closed deal names: its outcome counts in its assignee's record on its kind."""

    lead_id: uuid.UUID
    employee_id: uuid.UUID | None  # None: nobody had been given the lead
    kind: LeadKind


# ------------------------------------------------------------------ the announcement


@dataclass(frozen=True)
class PendingLead:
    """A decided lead whose `leads.assigned` Kafka has not acknowledged yet."""

    lead_id: uuid.UUID
    client_id: uuid.UUID | None
    employee_id: uuid.UUID
    employee_name: str
    department: Department
    strategy: Strategy
    call_id: str | None = None
    decided_at: datetime | None = None
    score: float | None = None
    runners_up: tuple[ScoredCandidate, ...] = ()


def assigned_event(pending: PendingLead, *, call_id: str, now: datetime) -> LeadAssigned:
    """The event of a decided lead. Its id and time come from the lead, so announcing it
    again (after a crash) repeats the same event, which consumers drop."""
    return LeadAssigned(
        event_id=derive_event_id(pending.lead_id, "assigned"),
        occurred_at=pending.decided_at or now,
        call_id=pending.call_id or call_id,
        lead_id=pending.lead_id,
        client_id=pending.client_id,
        employee_id=pending.employee_id,
        employee_name=pending.employee_name,
        department=pending.department,
        strategy=pending.strategy,
        score=pending.score,
        runners_up=list(pending.runners_up),
    )


def candidates(scored: Sequence[Scored]) -> list[ScoredCandidate]:
    return [ScoredCandidate(employee_id=s.negotiator.employee_id, score=s.score)
            for s in scored]
