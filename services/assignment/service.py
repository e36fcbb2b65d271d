"""The assignment's use cases: each one transaction that reads what the rules need, asks the
pure policy, and writes the outcome. Handlers, the HTTP API and the deadline task call these;
only the repository talks to PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.assignment.auth import token_hash
from services.assignment.keep import Market
from services.assignment.policy import (
    AssignmentRules,
    Choice,
    InboxLead,
    LeadPlan,
    PendingLead,
    Refused,
    ToInbox,
    Track,
    candidates,
    choose_operator,
    distribute,
    head_assigns,
    head_keeps,
    head_may_act,
    lead_expected_value,
    on_arrival,
)
from services.assignment.repository import NewLead, Repository, Tx
from services.assignment.strength import Kind
from shared.events import CallRouted, DealClosed, Department, EmployeeRef
from shared.errors import PermanentError

AGENTS = ("agent",)
HEADS = ("head",)


class Leads:
    """The port the handlers, the API and the deadline task use."""

    def __init__(self, repository: Repository, rules: AssignmentRules,
                 head_email: str | None = None) -> None:
        self.repository = repository
        self.rules = rules
        self.head_email = head_email

    # ------------------------------------------------------------------ calls.routed

    async def record(self, routed: CallRouted, plan: LeadPlan | None) -> PendingLead | None:
        """Records the router's decision and the lead it makes (once per call), decides who
        works it; returns the lead when this delivery decided it, for the caller to announce.

        A redelivery returns None: the first delivery announces, and should it have crashed
        between its commit and Kafka's acknowledgement, the deadline task announces the lead
        again (`announce_overdue`). So two deliveries at once never announce it twice."""
        async with self.repository.transaction() as tx:
            first = await tx.record_decision(routed)
            if plan is None or not first:
                return None
            if not await self._create(tx, routed, plan):
                return None
            return await tx.unpublished(plan.lead_id)

    async def _create(self, tx: Tx, routed: CallRouted, plan: LeadPlan) -> bool:
        """True when the lead was created and given to someone here."""
        if plan.track is Track.OWNER:
            return await self._owners_lead(tx, routed, plan)
        if plan.track is Track.CLIENT_DEPARTMENT:
            return await self._client_department_lead(tx, routed, plan)
        return await self._commercial_lead(tx, routed, plan)

    def _new_lead(self, plan: LeadPlan, department: Department,
                  expected: float | None = None) -> NewLead:
        return NewLead(plan.lead_id, department, plan.kind, plan.value, plan.currency,
                       expected, plan.at)

    async def _owners_lead(self, tx: Tx, routed: CallRouted, plan: LeadPlan) -> bool:
        """The owner (or the head taking the owner's calls) gets the lead whatever their load:
        the client is theirs. The call is the owner's activity with the client."""
        assert plan.employee_id is not None and plan.strategy is not None
        employee = await tx.employee(plan.employee_id)
        if employee is None:
            raise PermanentError(f"employee {plan.employee_id} is not in the client base",
                                 where="employee_id", call_id=routed.call_id)
        created = await tx.create_lead(routed, self._new_lead(plan, employee.department))
        if created:
            await tx.decide(plan.lead_id, employee.employee_id, employee.department,
                            plan.strategy, plan.at)
            await self._own(tx, routed.client_id, employee.employee_id, plan.at)
        await tx.refresh_ownership(routed.client_id, plan.employee_id, routed.occurred_at)
        return created

    async def _client_department_lead(self, tx: Tx, routed: CallRouted, plan: LeadPlan) -> bool:
        if not await tx.create_lead(routed, self._new_lead(plan, Department.CLIENT)):
            return False
        await tx.lock_department(Department.CLIENT)
        operators = await tx.candidates(Department.CLIENT, AGENTS, plan.kind,
                                        including=plan.employee_id)
        chosen = choose_operator(plan.employee_id, operators)
        if chosen is None:
            raise PermanentError("nobody in the client department can take the lead",
                                 where="operator_id", call_id=routed.call_id)
        assert plan.strategy is not None
        await tx.decide(plan.lead_id, chosen.employee_id, Department.CLIENT, plan.strategy,
                        plan.at)
        await self._own(tx, routed.client_id, chosen.employee_id, plan.at)
        return True

    async def _commercial_lead(self, tx: Tx, routed: CallRouted, plan: LeadPlan) -> bool:
        department = await tx.department_record(Department.COMMERCIAL, plan.kind)
        expected = lead_expected_value(plan.value, department, self.rules.prior_strength)
        if not await tx.create_lead(routed, self._new_lead(plan, Department.COMMERCIAL,
                                                           expected)):
            return False
        await tx.lock_department(Department.COMMERCIAL)
        heads = await tx.candidates(Department.COMMERCIAL, HEADS, plan.kind,
                                    email=self.head_email)
        negotiators = await tx.candidates(Department.COMMERCIAL, AGENTS, plan.kind)
        market = Market(
            inflow_last_hour=await tx.inflow_last_hour(plan.at, plan.lead_id),
            recent_expected_values=await tx.recent_expected_values(
                plan.currency, plan.at - self.rules.keep_window, plan.lead_id),
        )
        outcome = on_arrival(plan, heads, negotiators, department, market, self.rules)
        if isinstance(outcome, ToInbox):
            await tx.to_inbox(plan.lead_id, outcome.due_at)
            return False
        await self._decide(tx, plan.lead_id, routed.client_id, outcome, plan.at)
        return True

    async def _decide(self, tx: Tx, lead_id: uuid.UUID, client_id: uuid.UUID | None,
                      choice: Choice, at: datetime) -> None:
        await tx.decide(lead_id, choice.employee.employee_id, Department.COMMERCIAL,
                        choice.strategy, at, choice.score, candidates(choice.runners_up))
        await self._own(tx, client_id, choice.employee.employee_id, at)

    async def _own(self, tx: Tx, client_id: uuid.UUID | None, employee_id: uuid.UUID,
                   at: datetime) -> None:
        await tx.take_ownership(client_id, employee_id, at, at - self.rules.ownership_lapse)

    async def mark_published(self, lead_id: uuid.UUID) -> None:
        await self.repository.mark_published(lead_id)

    # ------------------------------------------------------------------ deals.closed

    async def record_outcome(self, deal: DealClosed) -> bool:
        """Counts a lead's outcome in its assignee's record, once per lead; closes the lead.
        False when it was counted already (a redelivery)."""
        async with self.repository.transaction() as tx:
            lead = await tx.lead_for_outcome(deal.lead_id)
            if lead is None:
                raise PermanentError(f"lead {deal.lead_id} is not known", where="lead_id",
                                     call_id=deal.call_id)
            counted = False
            if lead["employee_id"] is not None:
                counted = await tx.record_outcome(
                    deal.lead_id, deal.event_id, lead["employee_id"],
                    Kind.of(lead["segment"], lead["size_class"]), deal.outcome,
                    deal.final_value, deal.currency, deal.occurred_at)
            await tx.close_lead(deal.lead_id, deal.outcome)
            return counted

    # ------------------------------------------------------------------ the head's inbox

    async def authenticate(self, token: str) -> EmployeeRef | None:
        return await self.repository.authenticate(token_hash(token))

    async def inbox(self) -> list[InboxLead]:
        return await self.repository.inbox()

    async def _lock_for_head(self, tx: Tx, lead_id: uuid.UUID, now: datetime) -> InboxLead:
        lead = await tx.lock_inbox_lead(lead_id)
        if lead is None and not await tx.lead_exists(lead_id):
            raise Refused("not_found", f"no lead {lead_id}", "lead_id")
        head_may_act(lead, now)
        assert lead is not None
        return lead

    async def keep(self, lead_id: uuid.UUID, head: EmployeeRef, now: datetime) -> PendingLead:
        """The head keeps a lead of the inbox."""
        async with self.repository.transaction() as tx:
            lead = await self._lock_for_head(tx, lead_id, now)
            kind = Kind.of(lead.segment, lead.size_class)
            await tx.lock_department(Department.COMMERCIAL)
            [me] = await tx.candidates(Department.COMMERCIAL, (), kind,
                                       including=head.employee_id)
            department = await tx.department_record(Department.COMMERCIAL, kind)
            negotiators = await tx.candidates(Department.COMMERCIAL, AGENTS, kind)
            choice = head_keeps(lead, me, negotiators, department, self.rules)
            await self._decide(tx, lead.lead_id, lead.client_id, choice, now)
            pending = await tx.unpublished(lead.lead_id)
        assert pending is not None
        return pending

    async def assign(self, lead_id: uuid.UUID, employee_id: uuid.UUID,
                     now: datetime) -> PendingLead:
        """The head passes a lead of the inbox to a negotiator of their choice."""
        async with self.repository.transaction() as tx:
            lead = await self._lock_for_head(tx, lead_id, now)
            kind = Kind.of(lead.segment, lead.size_class)
            await tx.lock_department(Department.COMMERCIAL)
            negotiators = await tx.candidates(Department.COMMERCIAL, AGENTS, kind,
                                              including=employee_id)
            target = await tx.employee(employee_id)
            if target is None or target.department != Department.COMMERCIAL \
                    or target.role != "agent":
                negotiators = [n for n in negotiators if n.employee_id != employee_id]
            department = await tx.department_record(Department.COMMERCIAL, kind)
            choice = head_assigns(lead, employee_id, negotiators, department, self.rules)
            await self._decide(tx, lead.lead_id, lead.client_id, choice, now)
            pending = await tx.unpublished(lead.lead_id)
        assert pending is not None
        return pending

    # ------------------------------------------------------------------ the deadline task

    async def distribute_due(self, now: datetime, limit: int = 50) -> list[PendingLead]:
        """Leads past their deadline go to the strongest available negotiator, one
        transaction each; a lead nobody can take now stays in the inbox and is tried again
        after `retry`. Several replicas may run this at once: each lead is claimed by one."""
        decided = []
        for _ in range(limit):
            async with self.repository.transaction() as tx:
                lead = await tx.claim_due(now)
                if lead is None:
                    break
                kind = Kind.of(lead.segment, lead.size_class)
                await tx.lock_department(Department.COMMERCIAL)
                negotiators = await tx.candidates(Department.COMMERCIAL, AGENTS, kind)
                department = await tx.department_record(Department.COMMERCIAL, kind)
                choice = distribute(negotiators, department, lead.value, self.rules)
                if choice is None:
                    await tx.postpone(lead.lead_id, now + self.rules.retry)
                    continue
                await self._decide(tx, lead.lead_id, lead.client_id, choice, now)
                pending = await tx.unpublished(lead.lead_id)
            if pending is not None:
                decided.append(pending)
        return decided

    async def announce_overdue(self, before: datetime,
                               announce: Callable[[PendingLead], Awaitable[None]],
                               limit: int = 100) -> int:
        """Announces decided leads whose `leads.assigned` was never acknowledged (a crash in
        between): the same event again. Locked while announcing, so one replica does it."""
        async with self.repository.transaction() as tx:
            overdue = await tx.overdue_announcements(before, limit)
            for pending in overdue:
                await announce(pending)
                await tx.mark_published(pending.lead_id)
        return len(overdue)
