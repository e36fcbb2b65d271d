"""The assignment's use cases: each one transaction that reads what the rules need, asks the
pure policy and writes the outcome, then publishes `leads.assigned` for what it decided. The
Kafka handlers, the head's inbox over HTTP and the deadline task call these functions with
the service's dependencies (`Assignment`); only the repository talks to PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from services.assignment.keep import RecentFlow
from services.assignment.policy import (
    AssignmentRules,
    Choice,
    InboxLead,
    LeadPlan,
    LeadToClose,
    PendingLead,
    Refused,
    ToInbox,
    Track,
    assigned_event,
    candidates,
    choose_operator,
    distribute,
    head_assigns,
    head_keeps_from_inbox,
    head_may_act,
    lead_expected_value,
    on_arrival,
    plan_lead,
)
from services.assignment.strength import LeadKind, Negotiator
from shared import topics
from shared.access.principals import Principal
from shared.batches import Batch, Item
from shared.chances import DepartmentRecord
from shared.errors import PermanentError
from shared.events import (
    CallRouted,
    DealClosed,
    Department,
    Destination,
    EmployeeRef,
    Role,
    ScoredCandidate,
    Stage,
    Strategy,
    utcnow,
)
from shared.kafka import PublisherPort
from shared.wiring import Dependencies

# ------------------------------------------------------------------ ports


class LeadTransaction(Protocol):
    """What a use case reads and writes within one transaction of the lead store."""

    async def audit(self, principal: Principal, action: str, subject: str,
                    detail: dict[str, Any]) -> None:
        """A line of the audit log, written with the change (or not at all)."""

    async def lock_department(self, department: Department) -> None:
        """Held until the transaction ends: the department's loads stay as read."""

    async def record_decision(self, routed: CallRouted) -> bool:
        """The router's decision, once per call and stage; False when recorded already."""

    async def record_decisions(self, routed: Sequence[CallRouted]) -> set[tuple[str, str]]:
        """`record_decision` for many: the (call id, stage) pairs recorded now."""

    async def owner_at_ring(self, call_id: str) -> uuid.UUID | None:
        """Whom the call's recorded ring decision sent it to as the client's owner (the owner,
        or the head covering for them); None when it went elsewhere or is not recorded."""

    async def lock_client_leads(self, client_id: uuid.UUID | None) -> None:
        """Held until the transaction ends: no other transaction makes or joins an owner's
        lead of this client meanwhile."""

    async def open_lead(self, client_id: uuid.UUID | None, employee_id: uuid.UUID
                        ) -> uuid.UUID | None:
        """The client's oldest open lead worked by the employee; None when there is none."""

    async def join_lead(self, lead_id: uuid.UUID, routed: CallRouted, plan: LeadPlan) -> bool:
        """The call joins the lead, once per call, and fills in what the lead lacks; False
        when the call had joined it already."""

    async def employee(self, employee_id: uuid.UUID) -> EmployeeRef | None: ...

    async def candidates(self, department: Department, roles: Sequence[Role], kind: LeadKind, *,
                         email: str | None = None,
                         including: uuid.UUID | None = None) -> list[Negotiator]:
        """The active members of the department with one of the roles (and the e-mail, when
        given), and the employee `including` whoever they are; with their load and record."""

    async def department_record(self, department: Department, kind: LeadKind
                                ) -> DepartmentRecord: ...

    async def inflow_last_hour(self, now: datetime, lead_id: uuid.UUID) -> int: ...

    async def recent_expected_values(self, currency: str | None, since: datetime,
                                     lead_id: uuid.UUID) -> list[float]: ...

    async def create_lead(self, routed: CallRouted, plan: LeadPlan, department: Department,
                          expected_value: float | None = None) -> bool:
        """The lead of the call, once per call; False when the call has one already."""

    async def decide(self, lead_id: uuid.UUID, employee_id: uuid.UUID, department: Department,
                     strategy: Strategy, at: datetime, score: float | None = None,
                     runners_up: Sequence[ScoredCandidate] = ()) -> None: ...

    async def to_inbox(self, lead_id: uuid.UUID, due_at: datetime) -> None: ...

    async def postpone(self, lead_id: uuid.UUID, due_at: datetime) -> None: ...

    async def claim_due(self, now: datetime) -> InboxLead | None:
        """One inbox lead past its due time that no other transaction is deciding."""

    async def lead_exists(self, lead_id: uuid.UUID) -> bool: ...

    async def lock_inbox_lead(self, lead_id: uuid.UUID) -> InboxLead | None:
        """The lead, locked, while it waits in the inbox; else None."""

    async def take_ownership(self, client_id: uuid.UUID | None, employee_id: uuid.UUID,
                             at: datetime, lapsed_before: datetime) -> None:
        """The employee becomes the client's owner unless someone owns the client and was in
        touch with them since `lapsed_before`."""

    async def refresh_ownership(self, client_id: uuid.UUID | None, employee_id: uuid.UUID,
                                at: datetime) -> None: ...

    async def refresh_ownerships(self, contacts: Mapping[tuple[uuid.UUID, uuid.UUID], datetime]
                                 ) -> None:
        """`refresh_ownership` for many: (client, employee) -> the latest contact."""

    async def unpublished(self, lead_id: uuid.UUID) -> PendingLead | None:
        """The decided lead while its `leads.assigned` is not marked published."""

    async def overdue_announcements(self, before: datetime, limit: int) -> list[PendingLead]:
        """Decided leads not marked published since before `before`, locked."""

    async def mark_published(self, lead_id: uuid.UUID) -> None: ...

    async def lead_to_close(self, lead_id: uuid.UUID) -> LeadToClose | None:
        """The lead, locked until the transaction ends."""

    async def record_outcome(self, lead_id: uuid.UUID, event_id: uuid.UUID,
                             employee_id: uuid.UUID, kind: LeadKind, outcome: str,
                             final_value: Decimal | None, currency: str | None,
                             closed_at: datetime) -> bool:
        """The outcome, once per lead, counted in the employee's record; False when the lead
        had one already."""

    async def close_lead(self, lead_id: uuid.UUID, outcome: str) -> None: ...


class LeadStore(Protocol):
    """The assignment's data: decisions, leads, the inbox, outcomes, ownership."""

    def transaction(self) -> AbstractAsyncContextManager[LeadTransaction]: ...

    async def inbox(self) -> list[InboxLead]: ...

    async def mark_published(self, lead_id: uuid.UUID) -> None: ...


@dataclass(frozen=True)
class Assignment(Dependencies):
    """What the assignment's entry points work with; built by main.py."""

    leads: LeadStore
    publisher: PublisherPort
    rules: AssignmentRules = field(default_factory=AssignmentRules)
    head_email: str | None = None  # the head of sales who keeps leads; None: any commercial head


# ------------------------------------------------------------------ leads.assigned


async def _publish_assigned(deps: Assignment, pending: PendingLead, call_id: str) -> None:
    event = assigned_event(pending, call_id=call_id, now=utcnow())
    await deps.publisher.publish(topics.LEADS_ASSIGNED, event,
                                 key=topics.event_key(pending.client_id, event.call_id))


async def publish_decided_lead(deps: Assignment, pending: PendingLead, call_id: str = ""
                               ) -> None:
    """Publishes `leads.assigned` for a decided lead and marks it published, only after Kafka
    acknowledged it: after a crash in between, the deadline task publishes the same event
    again (same id, which consumers drop)."""
    await _publish_assigned(deps, pending, call_id)
    await deps.publisher.confirm()  # in a batch, publishes are confirmed later otherwise
    await deps.leads.mark_published(pending.lead_id)


async def republish_overdue(deps: Assignment, before: datetime, limit: int = 100) -> int:
    """Publishes again the decided leads whose `leads.assigned` was never acknowledged (a
    crash in between): the same event. Locked while publishing, so one replica does it."""
    async with deps.leads.transaction() as tx:
        overdue = await tx.overdue_announcements(before, limit)
        for pending in overdue:
            await _publish_assigned(deps, pending, "")
            await tx.mark_published(pending.lead_id)
    return len(overdue)


# ------------------------------------------------------------------ calls.routed


async def assign_routed_calls(deps: Assignment, batch: Batch, items: Sequence[Item[CallRouted]],
                              *, now: datetime) -> None:
    """`assign_routed_call` for a batch, in order. The decisions that make no lead (most
    ringing calls: a contact, the desk, a non-commercial call) are recorded together, in one
    transaction; every other call has its own."""
    contacts = [item for item in items if _only_a_decision(item.event, now)]
    if contacts:
        try:
            await record_decisions(deps, [item.event for item in contacts])
        except PermanentError:  # one of them is bad: each on its own, to reject only that one
            for item in contacts:
                async with batch.each(item):
                    await assign_routed_call(deps, item.event, now=now)
    for item in items:
        if not _only_a_decision(item.event, now):
            async with batch.each(item):
                await assign_routed_call(deps, item.event, now=now)


def _only_a_decision(routed: CallRouted, now: datetime) -> bool:
    return routed.stage == Stage.RING and plan_lead(routed, now=now) is None


async def record_decisions(deps: Assignment, calls: Sequence[CallRouted]) -> None:
    """Ring-time decisions that make no lead, once per call: a call for the owner keeps the
    ownership from lapsing (`record_routed_call` does the same for one call)."""
    async with deps.leads.transaction() as tx:
        recorded = await tx.record_decisions(calls)
        contacts: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
        for routed in calls:
            if ((routed.call_id, routed.stage.value) in recorded
                    and routed.destination == Destination.OWNER
                    and routed.employee_id is not None and routed.client_id is not None):
                pair = (routed.client_id, routed.employee_id)
                contacts[pair] = max(contacts.get(pair, routed.occurred_at), routed.occurred_at)
        await tx.refresh_ownerships(contacts)


async def assign_routed_call(deps: Assignment, routed: CallRouted, *, now: datetime) -> None:
    """The lead a routed call makes (if any), who works it, and its `leads.assigned`."""
    pending = await record_routed_call(deps, routed, now=now)
    if pending is not None:  # None: no new lead, in the head's inbox, or published already
        await publish_decided_lead(deps, pending, routed.call_id)


async def record_routed_call(deps: Assignment, routed: CallRouted, *, now: datetime
                             ) -> PendingLead | None:
    """Records the router's decision and the lead it makes or joins (once per call), decides
    who works a new lead; returns the lead when this delivery decided it, for the caller to
    publish. A call that joins a lead announces nothing: the lead was announced when it was
    made, and it keeps its assignee.

    A redelivery returns None: the first delivery publishes, and should it have crashed
    between its commit and Kafka's acknowledgement, the deadline task publishes the lead
    again (`republish_overdue`). So two deliveries at once never publish it twice."""
    async with deps.leads.transaction() as tx:
        if not await tx.record_decision(routed):
            return None
        owner_at_ring = (await tx.owner_at_ring(routed.call_id)
                         if routed.stage == Stage.QUALIFIED else None)
        plan = plan_lead(routed, now=now, owner_at_ring=owner_at_ring)
        if plan is None:
            if routed.destination == Destination.OWNER and routed.employee_id is not None:
                # The call is the owner's contact with the client, lead or not: it keeps the
                # ownership from lapsing.
                await tx.refresh_ownership(routed.client_id, routed.employee_id,
                                           routed.occurred_at)
            return None
        if not await _create_lead(deps, tx, routed, plan):
            return None
        return await tx.unpublished(plan.lead_id)


async def _create_lead(deps: Assignment, tx: LeadTransaction, routed: CallRouted,
                       plan: LeadPlan) -> bool:
    """True when the lead was created and given to someone here (False when the call joined
    a lead, or its lead waits in the inbox, or it had one already)."""
    if plan.track is Track.OWNER:
        return await _owners_lead(deps, tx, routed, plan)
    if plan.track is Track.CLIENT_DEPARTMENT:
        return await _client_department_lead(deps, tx, routed, plan)
    return await _commercial_lead(deps, tx, routed, plan)


async def _owners_lead(deps: Assignment, tx: LeadTransaction, routed: CallRouted,
                       plan: LeadPlan) -> bool:
    """The owner (or the head taking the owner's calls) gets the lead whatever their load:
    the client is theirs. One lead per deal: when the client has an open lead of that
    employee, the call joins it instead of making one. The call is the owner's activity with
    the client."""
    assert plan.employee_id is not None and plan.strategy is not None
    employee = await tx.employee(plan.employee_id)
    if employee is None:
        raise PermanentError(f"employee {plan.employee_id} is not in the client base",
                             where="employee_id", call_id=routed.call_id)
    await tx.lock_client_leads(routed.client_id)
    created = False
    open_lead = await tx.open_lead(routed.client_id, employee.employee_id)
    if open_lead is not None and open_lead != plan.lead_id:
        await tx.join_lead(open_lead, routed, plan)
    else:
        created = await tx.create_lead(routed, plan, employee.department)
    if created:
        await tx.decide(plan.lead_id, employee.employee_id, employee.department,
                        plan.strategy, plan.at)
        await _assignee_becomes_owner(deps, tx, routed.client_id, employee.employee_id,
                                      plan.at)
    await tx.refresh_ownership(routed.client_id, plan.employee_id, routed.occurred_at)
    return created


async def _client_department_lead(deps: Assignment, tx: LeadTransaction, routed: CallRouted,
                                  plan: LeadPlan) -> bool:
    if not await tx.create_lead(routed, plan, Department.CLIENT):
        return False
    await tx.lock_department(Department.CLIENT)
    operators = await tx.candidates(Department.CLIENT, (Role.AGENT,), plan.kind,
                                    including=plan.employee_id)
    chosen = choose_operator(plan.employee_id, operators)
    if chosen is None:
        raise PermanentError("nobody in the client department can take the lead",
                             where="operator_id", call_id=routed.call_id)
    assert plan.strategy is not None
    await tx.decide(plan.lead_id, chosen.employee_id, Department.CLIENT, plan.strategy,
                    plan.at)
    await _assignee_becomes_owner(deps, tx, routed.client_id, chosen.employee_id, plan.at)
    return True


async def _commercial_lead(deps: Assignment, tx: LeadTransaction, routed: CallRouted,
                           plan: LeadPlan) -> bool:
    rules = deps.rules
    department = await tx.department_record(Department.COMMERCIAL, plan.kind)
    expected = lead_expected_value(plan.value, department, rules.prior_strength)
    if not await tx.create_lead(routed, plan, Department.COMMERCIAL, expected):
        return False
    await tx.lock_department(Department.COMMERCIAL)
    heads = await tx.candidates(Department.COMMERCIAL, (Role.HEAD,), plan.kind,
                                email=deps.head_email)
    negotiators = await tx.candidates(Department.COMMERCIAL, (Role.AGENT,), plan.kind)
    flow = RecentFlow(
        inflow_last_hour=await tx.inflow_last_hour(plan.at, plan.lead_id),
        recent_expected_values=await tx.recent_expected_values(
            plan.currency, plan.at - rules.keep_window, plan.lead_id),
    )
    outcome = on_arrival(plan, heads, negotiators, department, flow, rules)
    if isinstance(outcome, ToInbox):
        await tx.to_inbox(plan.lead_id, outcome.due_at)
        return False
    await _give_commercial_lead(deps, tx, plan.lead_id, routed.client_id, outcome, plan.at)
    return True


async def _give_commercial_lead(deps: Assignment, tx: LeadTransaction, lead_id: uuid.UUID,
                                client_id: uuid.UUID | None, choice: Choice,
                                at: datetime) -> None:
    await tx.decide(lead_id, choice.employee.employee_id, Department.COMMERCIAL,
                    choice.strategy, at, choice.score, candidates(choice.runners_up))
    await _assignee_becomes_owner(deps, tx, client_id, choice.employee.employee_id, at)


async def _assignee_becomes_owner(deps: Assignment, tx: LeadTransaction,
                                  client_id: uuid.UUID | None, employee_id: uuid.UUID,
                                  at: datetime) -> None:
    """Whoever gets a lead becomes the client's owner, unless the client has an owner whose
    time has not lapsed."""
    await tx.take_ownership(client_id, employee_id, at, at - deps.rules.ownership_lapse)


# ------------------------------------------------------------------ deals.closed


async def count_outcome(deps: Assignment, deal: DealClosed) -> bool:
    """Counts a lead's outcome in its assignee's record, once per lead; closes the lead.
    False when it was counted already (a redelivery)."""
    async with deps.leads.transaction() as tx:
        lead = await tx.lead_to_close(deal.lead_id)
        if lead is None:
            raise PermanentError(f"lead {deal.lead_id} is not known", where="lead_id",
                                 call_id=deal.call_id)
        counted = False
        if lead.employee_id is not None:
            counted = await tx.record_outcome(
                deal.lead_id, deal.event_id, lead.employee_id, lead.kind, deal.outcome,
                deal.final_value, deal.currency, deal.occurred_at)
        await tx.close_lead(deal.lead_id, deal.outcome)
        return counted


# ------------------------------------------------------------------ the head's inbox


async def waiting_in_inbox(deps: Assignment) -> list[InboxLead]:
    return await deps.leads.inbox()


async def _lock_inbox_lead_for_head(tx: LeadTransaction, lead_id: uuid.UUID,
                                    now: datetime) -> InboxLead:
    lead = await tx.lock_inbox_lead(lead_id)
    if lead is None and not await tx.lead_exists(lead_id):
        raise Refused("not_found", f"no lead {lead_id}", "lead_id")
    head_may_act(lead, now)
    assert lead is not None
    return lead


async def keep_inbox_lead(deps: Assignment, lead_id: uuid.UUID, head: EmployeeRef,
                          now: datetime, *, by: Principal) -> PendingLead:
    """The head keeps a lead of the inbox (audit: `lead.keep`, by whoever acted)."""
    async with deps.leads.transaction() as tx:
        lead = await _lock_inbox_lead_for_head(tx, lead_id, now)
        kind = LeadKind.of(lead.segment, lead.size_class)
        await tx.lock_department(Department.COMMERCIAL)
        [me] = await tx.candidates(Department.COMMERCIAL, (), kind, including=head.employee_id)
        department = await tx.department_record(Department.COMMERCIAL, kind)
        negotiators = await tx.candidates(Department.COMMERCIAL, (Role.AGENT,), kind)
        choice = head_keeps_from_inbox(lead, me, negotiators, department, deps.rules)
        await _give_commercial_lead(deps, tx, lead.lead_id, lead.client_id, choice, now)
        pending = await tx.unpublished(lead.lead_id)
        assert pending is not None
        await tx.audit(by, "lead.keep", str(lead_id), {"employee_id": pending.employee_id})
    return pending


async def assign_inbox_lead(deps: Assignment, lead_id: uuid.UUID, employee_id: uuid.UUID,
                            now: datetime, *, by: Principal) -> PendingLead:
    """The head passes a lead of the inbox to a negotiator of their choice (audit:
    `lead.assign`, by whoever acted)."""
    async with deps.leads.transaction() as tx:
        lead = await _lock_inbox_lead_for_head(tx, lead_id, now)
        kind = LeadKind.of(lead.segment, lead.size_class)
        await tx.lock_department(Department.COMMERCIAL)
        negotiators = await tx.candidates(Department.COMMERCIAL, (Role.AGENT,), kind,
                                          including=employee_id)
        target = await tx.employee(employee_id)
        if target is None or target.department != Department.COMMERCIAL \
                or target.role != Role.AGENT:
            negotiators = [n for n in negotiators if n.employee_id != employee_id]
        department = await tx.department_record(Department.COMMERCIAL, kind)
        choice = head_assigns(lead, employee_id, negotiators, department, deps.rules)
        await _give_commercial_lead(deps, tx, lead.lead_id, lead.client_id, choice, now)
        pending = await tx.unpublished(lead.lead_id)
        assert pending is not None
        await tx.audit(by, "lead.assign", str(lead_id), {"employee_id": pending.employee_id})
    return pending


# ------------------------------------------------------------------ the deadline


async def distribute_due(deps: Assignment, now: datetime, limit: int = 50
                         ) -> list[PendingLead]:
    """Leads past their deadline go to the strongest available negotiator, one transaction
    each; a lead nobody can take now stays in the inbox and is tried again after `retry`.
    Several replicas may run this at once: each lead is claimed by one. Returns the decided
    leads, for the caller to publish."""
    decided = []
    for _ in range(limit):
        async with deps.leads.transaction() as tx:
            lead = await tx.claim_due(now)
            if lead is None:
                break
            kind = LeadKind.of(lead.segment, lead.size_class)
            await tx.lock_department(Department.COMMERCIAL)
            negotiators = await tx.candidates(Department.COMMERCIAL, (Role.AGENT,), kind)
            department = await tx.department_record(Department.COMMERCIAL, kind)
            choice = distribute(negotiators, department, lead.value, deps.rules)
            if choice is None:
                await tx.postpone(lead.lead_id, now + deps.rules.retry)
                continue
            await _give_commercial_lead(deps, tx, lead.lead_id, lead.client_id, choice, now)
            pending = await tx.unpublished(lead.lead_id)
        if pending is not None:
            decided.append(pending)
    return decided
