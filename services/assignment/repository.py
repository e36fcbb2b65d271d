"""Decisions, leads and ownership in PostgreSQL. The only module of the assignment service
that touches asyncpg. Every write is keyed, so a redelivered event changes nothing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import asyncpg

from services.assignment.policy import LeadPlan
from shared.events import CallRouted, Department, Strategy

RECORD_DECISION = """
INSERT INTO call_decisions (call_id, stage, event_id, client_id, destination, employee_id, reasons)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (call_id, stage) DO NOTHING
"""

CREATE_LEAD = """
INSERT INTO leads (lead_id, call_id, client_id, employee_id, department, strategy)
SELECT $1, $2, $3, e.employee_id, e.department, $5
FROM employees e WHERE e.employee_id = $4
ON CONFLICT (call_id) DO NOTHING
"""

UNPUBLISHED_LEAD = """
SELECT l.lead_id, l.client_id, l.employee_id, l.strategy, e.name, e.department
FROM leads l JOIN employees e USING (employee_id)
WHERE l.lead_id = $1 AND l.published_at IS NULL
"""

MARK_PUBLISHED = "UPDATE leads SET published_at = now() WHERE lead_id = $1"

# A call routed to the owner is activity: it keeps the ownership from lapsing.
REFRESH_OWNERSHIP = """
UPDATE ownership SET last_activity_at = greatest(last_activity_at, $3)
WHERE client_id = $1 AND employee_id = $2
"""


@dataclass(frozen=True)
class PendingLead:
    lead_id: uuid.UUID
    client_id: uuid.UUID | None
    employee_id: uuid.UUID
    employee_name: str
    department: Department
    strategy: Strategy


class Leads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, routed: CallRouted, plan: LeadPlan | None) -> PendingLead | None:
        """Records the decision and the lead (once per call); returns the lead while
        `leads.assigned` has not been published for it."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                RECORD_DECISION, routed.call_id, "ring", routed.event_id, routed.client_id,
                routed.destination.value, routed.employee_id, json.dumps(routed.reasons),
            )
            if plan is None:
                return None
            await conn.execute(CREATE_LEAD, plan.lead_id, routed.call_id, routed.client_id,
                               plan.employee_id, plan.strategy.value)
            if routed.client_id is not None:
                await conn.execute(REFRESH_OWNERSHIP, routed.client_id, plan.employee_id,
                                   routed.occurred_at)
            row = await conn.fetchrow(UNPUBLISHED_LEAD, plan.lead_id)
        if row is None:
            return None
        return PendingLead(row["lead_id"], row["client_id"], row["employee_id"], row["name"],
                           Department(row["department"]), Strategy(row["strategy"]))

    async def mark_published(self, lead_id: uuid.UUID) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(MARK_PUBLISHED, lead_id)
