"""Decisions, leads, the inbox, outcomes and ownership in PostgreSQL. The only module of the
assignment service that touches asyncpg (tokens are `shared.access`'s).

Every write is keyed, so a redelivered event changes nothing: the decision per call and stage,
the lead per call that makes one, the joining per call, the outcome per lead, the owner per
client. Whoever chooses an employee for a lead first takes the department's advisory lock
(`lock_department`), so the loads it reads stay true until it commits: two replicas never
fill the same last slot. Row locks on leads are always taken before that lock, never after,
so the two cannot deadlock. Whoever makes or joins an owner's lead first takes the client's
advisory lock (`lock_client_leads`, before any row lock; that track takes no department
lock), so two calls of one client at once never make two leads of one deal.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.assignment.policy import InboxLead, LeadPlan, LeadToClose, PendingLead
from services.assignment.strength import LeadKind, Negotiator
from shared.access.principals import Principal
from shared.access.store import audit
from shared.chances import DepartmentRecord, Record
from shared.errors import PermanentError
from shared.events import CallRouted, Department, EmployeeRef, Role, ScoredCandidate, Strategy

# pg_advisory_xact_lock keys: one per department whose loads an assignment reads.
_DEPARTMENT_LOCKS = {Department.COMMERCIAL: 4242_0004_01, Department.CLIENT: 4242_0004_02}
# pg_advisory_xact_lock(int, int) keys (a key space apart from the one-bigint keys above): this
# class, and the hash of the client whose owner's leads are being made or joined.
_CLIENT_LEADS_LOCK = 4242_0007

RECORD_DECISION = """
INSERT INTO call_decisions (call_id, stage, event_id, client_id, destination, employee_id, reasons)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (call_id, stage) DO NOTHING
RETURNING call_id
"""

# A batch's decisions that make no lead, in one statement (`record_decision` for each).
RECORD_DECISIONS = """
INSERT INTO call_decisions (call_id, stage, event_id, client_id, destination, employee_id, reasons)
SELECT call_id, stage, event_id, client_id, destination, employee_id, reasons::jsonb
FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::uuid[], $7::text[])
     AS d(call_id, stage, event_id, client_id, destination, employee_id, reasons)
ON CONFLICT (call_id, stage) DO NOTHING
RETURNING call_id, stage
"""

EMPLOYEE = """
SELECT employee_id, name, department, role, active, on_leave FROM employees
WHERE employee_id = $1
"""

OWNER_AT_RING = """
SELECT employee_id FROM call_decisions
WHERE call_id = $1 AND stage = 'ring' AND destination = 'owner'
"""

LOCK_CLIENT_LEADS = "SELECT pg_advisory_xact_lock($1::integer, hashtext($2::text))"

OPEN_LEAD = """
SELECT lead_id FROM leads
WHERE client_id = $1 AND employee_id = $2 AND status = 'open'
ORDER BY created_at, lead_id
LIMIT 1
"""

JOIN_LEAD = """
INSERT INTO lead_calls (call_id, lead_id, value, currency, joined_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (call_id) DO NOTHING
RETURNING lead_id
"""

# Employees who could take a lead of kind ($2, $3), with their load and record on the kind:
# the active members of department $1 with a role in $4 (and e-mail $5 when given), and
# employee $6 whoever they are.
CANDIDATES = """
SELECT e.employee_id, e.name, e.email, e.capacity, e.active, e.on_leave,
       (SELECT count(*) FROM leads l
        WHERE l.employee_id = e.employee_id AND l.status = 'open') AS load,
       coalesce(r.won, 0) AS won, coalesce(r.lost, 0) AS lost
FROM employees e
LEFT JOIN negotiator_records r
       ON r.employee_id = e.employee_id AND r.segment = $2 AND r.size_class = $3
WHERE (e.department = $1 AND e.role = ANY($4::text[]) AND e.active
       AND ($5::text IS NULL OR lower(e.email) = lower($5)))
   OR e.employee_id = $6
"""

# The outcomes of the department's active members: on kind ($2, $3), and on all kinds.
DEPARTMENT_RECORD = """
SELECT coalesce(sum(r.won) FILTER (WHERE r.segment = $2 AND r.size_class = $3), 0) AS kind_won,
       coalesce(sum(r.lost) FILTER (WHERE r.segment = $2 AND r.size_class = $3), 0) AS kind_lost,
       coalesce(sum(r.won), 0) AS won, coalesce(sum(r.lost), 0) AS lost
FROM negotiator_records r JOIN employees e USING (employee_id)
WHERE e.department = $1 AND e.active
"""

INFLOW = """
SELECT count(*) FROM leads
WHERE destination = 'commercial_department'
  AND created_at > $1::timestamptz - interval '1 hour' AND created_at <= $1 AND lead_id <> $2
"""

RECENT_EXPECTED_VALUES = """
SELECT expected_value FROM leads
WHERE destination = 'commercial_department' AND currency = $1 AND expected_value IS NOT NULL
  AND created_at > $2 AND lead_id <> $3
ORDER BY created_at DESC
LIMIT 1000
"""

CREATE_LEAD = """
INSERT INTO leads (lead_id, call_id, client_id, department, destination, stage, segment,
                   size_class, value, currency, caller, client_name, expected_value, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT DO NOTHING
RETURNING lead_id
"""

_FILL_IN = """
    value = coalesce(value, $2),
    currency = CASE WHEN value IS NULL THEN $3 ELSE currency END,
    segment = coalesce(segment, $4),
    size_class = coalesce(size_class, $5),
    client_id = coalesce(client_id, $6),
    client_name = coalesce(client_name, $7)
"""

# A later stage of the same call only fills in what the lead lacks.
FILL_IN_LEAD = f"UPDATE leads SET {_FILL_IN} WHERE call_id = $1"

# So does a call that joins the lead.
FILL_IN_JOINED_LEAD = f"UPDATE leads SET {_FILL_IN} WHERE lead_id = $1"

DECIDE_LEAD = """
UPDATE leads SET employee_id = $2, department = $3, strategy = $4, decided_at = $5,
                 score = $6, runners_up = $7::jsonb
WHERE lead_id = $1 AND employee_id IS NULL
"""

TO_INBOX = "UPDATE leads SET due_at = $2 WHERE lead_id = $1"

POSTPONE = "UPDATE leads SET due_at = $2, attempts = attempts + 1 WHERE lead_id = $1"

_INBOX_COLUMNS = """
l.lead_id, l.call_id, l.client_id, coalesce(c.name, l.client_name) AS client_name, l.caller,
coalesce(l.segment, c.segment) AS segment, l.size_class, l.value, l.currency,
l.created_at, l.due_at, l.attempts
"""

_IN_INBOX = """
l.employee_id IS NULL AND l.status = 'open' AND l.destination = 'commercial_department'
AND l.due_at IS NOT NULL
"""

INBOX = f"""
SELECT {_INBOX_COLUMNS} FROM leads l LEFT JOIN clients c USING (client_id)
WHERE {_IN_INBOX}
ORDER BY l.due_at, l.lead_id
LIMIT $1
"""

# One lead of the inbox past its due time that no other replica is deciding right now.
CLAIM_DUE = f"""
SELECT {_INBOX_COLUMNS} FROM leads l LEFT JOIN clients c USING (client_id)
WHERE {_IN_INBOX} AND l.due_at <= $1
ORDER BY l.due_at
LIMIT 1
FOR UPDATE OF l SKIP LOCKED
"""

LEAD_EXISTS = "SELECT true FROM leads WHERE lead_id = $1"

# The lead the head acts on, waiting for a replica that is deciding it right now.
LOCK_INBOX_LEAD = f"""
SELECT {_INBOX_COLUMNS} FROM leads l LEFT JOIN clients c USING (client_id)
WHERE l.lead_id = $1 AND {_IN_INBOX}
FOR UPDATE OF l
"""

# The assignee becomes the client's owner when the client has none (or the owner's time
# lapsed). Two leads of one new client at once: the second insert finds the first's row.
TAKE_OWNERSHIP = """
INSERT INTO ownership (client_id, employee_id, since, last_activity_at)
VALUES ($1, $2, $3, $3)
ON CONFLICT (client_id) DO UPDATE
    SET employee_id = EXCLUDED.employee_id, since = EXCLUDED.since,
        last_activity_at = EXCLUDED.last_activity_at
    WHERE ownership.last_activity_at < $4
"""

# A call routed to the owner is activity: it keeps the ownership from lapsing.
REFRESH_OWNERSHIP = """
UPDATE ownership SET last_activity_at = greatest(last_activity_at, $3)
WHERE client_id = $1 AND employee_id = $2
"""
REFRESH_OWNERSHIPS = """
UPDATE ownership o SET last_activity_at = greatest(o.last_activity_at, c.at)
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS c(client_id, employee_id, at)
WHERE o.client_id = c.client_id AND o.employee_id = c.employee_id
"""

_PENDING_COLUMNS = """
l.lead_id, l.call_id, l.client_id, l.employee_id, l.strategy,
coalesce(l.decided_at, l.created_at) AS decided_at, l.score, l.runners_up, e.name, e.department
"""

UNPUBLISHED_LEAD = f"""
SELECT {_PENDING_COLUMNS} FROM leads l JOIN employees e USING (employee_id)
WHERE l.lead_id = $1 AND l.published_at IS NULL
"""

# Decided leads whose announcement is overdue (a crash between commit and Kafka's ack).
OVERDUE_ANNOUNCEMENTS = f"""
SELECT {_PENDING_COLUMNS} FROM leads l JOIN employees e USING (employee_id)
WHERE l.published_at IS NULL AND l.employee_id IS NOT NULL
  AND coalesce(l.decided_at, l.created_at) < $1
ORDER BY coalesce(l.decided_at, l.created_at)
LIMIT $2
FOR UPDATE OF l SKIP LOCKED
"""

MARK_PUBLISHED = "UPDATE leads SET published_at = now() WHERE lead_id = $1"

LEAD_FOR_OUTCOME = """
SELECT lead_id, employee_id, segment, size_class FROM leads WHERE lead_id = $1 FOR UPDATE
"""

RECORD_OUTCOME = """
INSERT INTO lead_outcomes (lead_id, event_id, employee_id, segment, size_class, outcome,
                           final_value, currency, closed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (lead_id) DO NOTHING
RETURNING lead_id
"""

COUNT_OUTCOME = """
INSERT INTO negotiator_records (employee_id, segment, size_class, won, lost)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (employee_id, segment, size_class) DO UPDATE
    SET won = negotiator_records.won + EXCLUDED.won,
        lost = negotiator_records.lost + EXCLUDED.lost
"""

CLOSE_LEAD = "UPDATE leads SET status = $2 WHERE lead_id = $1 AND status = 'open'"

def _inbox_lead(row: asyncpg.Record) -> InboxLead:
    return InboxLead(
        lead_id=row["lead_id"], call_id=row["call_id"], client_id=row["client_id"],
        client_name=row["client_name"], caller=row["caller"], segment=row["segment"],
        size_class=row["size_class"], value=row["value"], currency=row["currency"],
        arrived_at=row["created_at"], due_at=row["due_at"], attempts=row["attempts"],
    )


def _pending(row: asyncpg.Record) -> PendingLead:
    return PendingLead(
        lead_id=row["lead_id"], client_id=row["client_id"], employee_id=row["employee_id"],
        employee_name=row["name"], department=Department(row["department"]),
        strategy=Strategy(row["strategy"]), call_id=row["call_id"],
        decided_at=row["decided_at"], score=row["score"],
        runners_up=tuple(ScoredCandidate.model_validate(c)
                         for c in json.loads(row["runners_up"] or "[]")),
    )


def _employee(row: asyncpg.Record) -> EmployeeRef:
    return EmployeeRef.model_validate(dict(row))


def _fill_in(query: str, which: object, routed: CallRouted) -> tuple[object, ...]:
    """A fill-in query of the lead `which` names, with what the routed call knows."""
    return (query, which, routed.deal_value, routed.currency,
            routed.segment and routed.segment.value,
            routed.size_class and routed.size_class.value, routed.client_id, routed.client_name)


class RepositoryTransaction:
    """The queries of one transaction on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def audit(self, principal: Principal, action: str, subject: str,
                    detail: dict[str, Any]) -> None:
        await audit(self.conn, principal, action, subject, detail)

    async def lock_department(self, department: Department) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)",
                                _DEPARTMENT_LOCKS[department])

    async def record_decision(self, routed: CallRouted) -> bool:
        """The router's decision, once per call and stage; False when recorded already."""
        return await self.conn.fetchval(
            RECORD_DECISION, routed.call_id, routed.stage.value, routed.event_id,
            routed.client_id, routed.destination.value, routed.employee_id,
            json.dumps(routed.reasons),
        ) is not None

    async def record_decisions(self, routed: Sequence[CallRouted]) -> set[tuple[str, str]]:
        """`record_decision` for many: the (call id, stage) pairs recorded now."""
        first = list({(r.call_id, r.stage.value): r for r in reversed(routed)}.values())
        rows = await self.conn.fetch(
            RECORD_DECISIONS, [r.call_id for r in first], [r.stage.value for r in first],
            [r.event_id for r in first], [r.client_id for r in first],
            [r.destination.value for r in first], [r.employee_id for r in first],
            [json.dumps(r.reasons) for r in first])
        return {(row["call_id"], row["stage"]) for row in rows}

    async def owner_at_ring(self, call_id: str) -> uuid.UUID | None:
        return await self.conn.fetchval(OWNER_AT_RING, call_id)

    async def lock_client_leads(self, client_id: uuid.UUID | None) -> None:
        if client_id is not None:
            await self.conn.execute(LOCK_CLIENT_LEADS, _CLIENT_LEADS_LOCK, str(client_id))

    async def open_lead(self, client_id: uuid.UUID | None, employee_id: uuid.UUID
                        ) -> uuid.UUID | None:
        if client_id is None:
            return None
        return await self.conn.fetchval(OPEN_LEAD, client_id, employee_id)

    async def join_lead(self, lead_id: uuid.UUID, routed: CallRouted, plan: LeadPlan) -> bool:
        """The call joins the lead, once per call; the first time it fills in what the lead
        lacks."""
        joined = await self.conn.fetchval(JOIN_LEAD, routed.call_id, lead_id, plan.value,
                                          plan.currency, plan.at)
        if joined is None:
            return False
        await self.conn.execute(*_fill_in(FILL_IN_JOINED_LEAD, lead_id, routed))
        return True

    async def employee(self, employee_id: uuid.UUID) -> EmployeeRef | None:
        row = await self.conn.fetchrow(EMPLOYEE, employee_id)
        return _employee(row) if row else None

    async def candidates(self, department: Department, roles: Sequence[Role], kind: LeadKind, *,
                         email: str | None = None,
                         including: uuid.UUID | None = None) -> list[Negotiator]:
        rows = await self.conn.fetch(CANDIDATES, department.value, kind.segment,
                                     kind.size_class, [role.value for role in roles], email,
                                     including)
        return [Negotiator(employee_id=r["employee_id"], name=r["name"], email=r["email"],
                           load=r["load"], capacity=r["capacity"], active=r["active"],
                           on_leave=r["on_leave"], record=Record(r["won"], r["lost"]))
                for r in rows]

    async def department_record(self, department: Department, kind: LeadKind) -> DepartmentRecord:
        row = await self.conn.fetchrow(DEPARTMENT_RECORD, department.value, kind.segment,
                                       kind.size_class)
        return DepartmentRecord(kind=Record(row["kind_won"], row["kind_lost"]),
                                overall=Record(row["won"], row["lost"]))

    async def inflow_last_hour(self, now: datetime, lead_id: uuid.UUID) -> int:
        return await self.conn.fetchval(INFLOW, now, lead_id)

    async def recent_expected_values(self, currency: str | None, since: datetime,
                                     lead_id: uuid.UUID) -> list[float]:
        if currency is None:
            return []
        rows = await self.conn.fetch(RECENT_EXPECTED_VALUES, currency, since, lead_id)
        return [r["expected_value"] for r in rows]

    async def create_lead(self, routed: CallRouted, plan: LeadPlan, department: Department,
                          expected_value: float | None = None) -> bool:
        """The lead of the call, once per call; False when the call has one already (a later
        stage), which then only fills in what the lead lacks."""
        created = await self.conn.fetchval(
            CREATE_LEAD, plan.lead_id, routed.call_id, routed.client_id, department.value,
            plan.track.value, routed.stage.value, routed.segment and routed.segment.value,
            routed.size_class and routed.size_class.value, plan.value, plan.currency,
            routed.caller, routed.client_name, expected_value, plan.at,
        )
        if created is None:
            await self.conn.execute(*_fill_in(FILL_IN_LEAD, routed.call_id, routed))
        return created is not None

    async def decide(self, lead_id: uuid.UUID, employee_id: uuid.UUID, department: Department,
                     strategy: Strategy, at: datetime, score: float | None = None,
                     runners_up: Sequence[ScoredCandidate] = ()) -> None:
        await self.conn.execute(
            DECIDE_LEAD, lead_id, employee_id, department.value, strategy.value, at, score,
            json.dumps([c.model_dump(mode="json") for c in runners_up]),
        )

    async def to_inbox(self, lead_id: uuid.UUID, due_at: datetime) -> None:
        await self.conn.execute(TO_INBOX, lead_id, due_at)

    async def postpone(self, lead_id: uuid.UUID, due_at: datetime) -> None:
        await self.conn.execute(POSTPONE, lead_id, due_at)

    async def claim_due(self, now: datetime) -> InboxLead | None:
        row = await self.conn.fetchrow(CLAIM_DUE, now)
        return _inbox_lead(row) if row else None

    async def lead_exists(self, lead_id: uuid.UUID) -> bool:
        return bool(await self.conn.fetchval(LEAD_EXISTS, lead_id))

    async def lock_inbox_lead(self, lead_id: uuid.UUID) -> InboxLead | None:
        row = await self.conn.fetchrow(LOCK_INBOX_LEAD, lead_id)
        return _inbox_lead(row) if row else None

    async def take_ownership(self, client_id: uuid.UUID | None, employee_id: uuid.UUID,
                             at: datetime, lapsed_before: datetime) -> None:
        if client_id is not None:
            await self.conn.execute(TAKE_OWNERSHIP, client_id, employee_id, at, lapsed_before)

    async def refresh_ownership(self, client_id: uuid.UUID | None, employee_id: uuid.UUID,
                                at: datetime) -> None:
        if client_id is not None:
            await self.conn.execute(REFRESH_OWNERSHIP, client_id, employee_id, at)

    async def refresh_ownerships(self, contacts: Mapping[tuple[uuid.UUID, uuid.UUID], datetime]
                                 ) -> None:
        """`refresh_ownership` for many: (client, employee) -> the latest contact."""
        if contacts:
            pairs = list(contacts)
            await self.conn.execute(REFRESH_OWNERSHIPS, [c for c, _ in pairs],
                                    [e for _, e in pairs], list(contacts.values()))

    async def unpublished(self, lead_id: uuid.UUID) -> PendingLead | None:
        row = await self.conn.fetchrow(UNPUBLISHED_LEAD, lead_id)
        return _pending(row) if row else None

    async def overdue_announcements(self, before: datetime, limit: int) -> list[PendingLead]:
        return [_pending(r) for r in await self.conn.fetch(OVERDUE_ANNOUNCEMENTS, before, limit)]

    async def mark_published(self, lead_id: uuid.UUID) -> None:
        await self.conn.execute(MARK_PUBLISHED, lead_id)

    async def lead_to_close(self, lead_id: uuid.UUID) -> LeadToClose | None:
        row = await self.conn.fetchrow(LEAD_FOR_OUTCOME, lead_id)
        if row is None:
            return None
        return LeadToClose(row["lead_id"], row["employee_id"],
                           LeadKind.of(row["segment"], row["size_class"]))

    async def record_outcome(self, lead_id: uuid.UUID, event_id: uuid.UUID,
                             employee_id: uuid.UUID, kind: LeadKind, outcome: str,
                             final_value: Decimal | None, currency: str | None,
                             closed_at: datetime) -> bool:
        """The outcome, once per lead; counted in the employee's record the first time only."""
        first = await self.conn.fetchval(RECORD_OUTCOME, lead_id, event_id, employee_id,
                                         kind.segment, kind.size_class, outcome, final_value,
                                         currency, closed_at)
        if first is None:
            return False
        won = outcome == "won"
        await self.conn.execute(COUNT_OUTCOME, employee_id, kind.segment, kind.size_class,
                                int(won), int(not won))
        return True

    async def close_lead(self, lead_id: uuid.UUID, outcome: str) -> None:
        await self.conn.execute(CLOSE_LEAD, lead_id, outcome)


class Repository:
    """The lead store of the assignment (`service.LeadStore`) in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[RepositoryTransaction]:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield RepositoryTransaction(conn)
            except asyncpg.ForeignKeyViolationError as error:
                # An event naming a client or employee the client base does not know can
                # never be processed: it goes to calls.rejected.
                raise PermanentError(f"unknown reference: {error.detail or error}",
                                     where=getattr(error, "column_name", None)) from error

    async def inbox(self, limit: int = 500) -> list[InboxLead]:
        async with self.pool.acquire() as conn:
            return [_inbox_lead(r) for r in await conn.fetch(INBOX, limit)]

    async def mark_published(self, lead_id: uuid.UUID) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(MARK_PUBLISHED, lead_id)
