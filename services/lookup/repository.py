"""The read side of the client base, and the contact log. The only module of the lookup that
touches asyncpg. Queries are plain SQL; asyncpg prepares and caches each per connection."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import asyncpg

from services.lookup.policy import CallerRecord, OwnershipRecord
from shared.events import ClientRef, ContactRef, EmployeeRef, LeadRef

HISTORY_LIMIT = 20

# The client by exact number, else by the longest corporate range that prefixes the number
# ($2 holds every prefix of the number, so both branches are primary-key look-ups), with its
# owner, open leads and recent contacts (other than call $3) in one round trip.
FIND_CALLER = """
WITH found AS (
    SELECT client_id, name, segment FROM (
        SELECT c.client_id, c.name, c.segment, 1000 AS rank
        FROM clients c JOIN client_phones p USING (client_id)
        WHERE p.phone = $1
        UNION ALL
        SELECT c.client_id, c.name, c.segment, length(r.prefix) AS rank
        FROM clients c JOIN client_number_ranges r USING (client_id)
        WHERE r.prefix = ANY($2::text[])
    ) candidates
    ORDER BY rank DESC
    LIMIT 1
)
SELECT f.client_id, f.name, f.segment,
       o.employee_id AS owner_id, e.name AS owner_name, e.department AS owner_department,
       e.role AS owner_role, e.active AS owner_active, e.on_leave AS owner_on_leave,
       e.extension AS owner_extension, e.direct_number AS owner_number,
       o.since, o.last_activity_at,
       (SELECT row_to_json(h) FROM (
            SELECT employee_id, name, department, role, active, on_leave, extension,
                   direct_number AS number FROM employees
            WHERE department = e.department AND role = 'head'
            ORDER BY active DESC, on_leave ASC, email LIMIT 1) h) AS owner_head,
       (SELECT coalesce(json_agg(l ORDER BY l.created_at DESC), '[]')
        FROM (SELECT lead_id, employee_id, department, created_at FROM leads
              WHERE client_id = f.client_id AND status = 'open'
              ORDER BY created_at DESC LIMIT $4) l) AS open_leads,
       (SELECT coalesce(json_agg(k ORDER BY k.occurred_at DESC), '[]')
        FROM (SELECT c.call_id, c.occurred_at, c.employee_id, ce.name, ce.department
              FROM contacts c LEFT JOIN employees ce USING (employee_id)
              WHERE c.client_id = f.client_id AND c.call_id <> $3
              ORDER BY c.occurred_at DESC LIMIT $4) k) AS recent_contacts
FROM found f
LEFT JOIN ownership o USING (client_id)
LEFT JOIN employees e ON e.employee_id = o.employee_id
"""

FIND_EMPLOYEE_BY_LINE = """
SELECT employee_id, name, department, role, active, on_leave, extension,
       direct_number AS number FROM employees
WHERE extension = $1 OR direct_number = $1
LIMIT 1
"""

HEADS_OF_SALES = """
SELECT employee_id FROM employees
WHERE department = 'commercial' AND role = 'head' AND active
ORDER BY email
"""

# Once per call, whatever the redeliveries.
RECORD_CONTACT = """
INSERT INTO contacts (call_id, client_id, employee_id, caller, dialed, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (call_id) DO NOTHING
"""


def prefixes(number: str) -> list[str]:
    """'+7495100' -> ['+7', '+74', ..., '+7495100']: the ranges that could cover the number."""
    return [number[:i] for i in range(2, len(number) + 1)]


def _contact(item: dict) -> ContactRef:
    employee = None
    if item["employee_id"]:
        employee = EmployeeRef(employee_id=item["employee_id"], name=item["name"],
                               department=item["department"])
    return ContactRef(call_id=item["call_id"], occurred_at=item["occurred_at"],
                      employee=employee)


class ClientBase:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def find_caller(self, number: str | None, call_id: str = "") -> CallerRecord:
        """The caller's client, owner, open leads and contacts (other than this call)."""
        if not number:
            return CallerRecord()
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(FIND_CALLER, number, prefixes(number), call_id,
                                      HISTORY_LIMIT)
        if row is None:
            return CallerRecord()
        ownership = None
        if row["owner_id"] is not None:
            ownership = OwnershipRecord(
                owner=EmployeeRef(
                    employee_id=row["owner_id"], name=row["owner_name"],
                    department=row["owner_department"], role=row["owner_role"],
                    active=row["owner_active"], on_leave=row["owner_on_leave"],
                    extension=row["owner_extension"], number=row["owner_number"],
                ),
                since=row["since"],
                last_activity_at=row["last_activity_at"],
                head=(EmployeeRef.model_validate_json(row["owner_head"])
                      if row["owner_head"] else None),
            )
        return CallerRecord(
            client=ClientRef(client_id=row["client_id"], name=row["name"],
                             segment=row["segment"]),
            ownership=ownership,
            open_leads=[LeadRef.model_validate(x) for x in json.loads(row["open_leads"])],
            recent_contacts=[_contact(x) for x in json.loads(row["recent_contacts"])],
        )

    async def find_employee_by_line(self, dialed: str) -> EmployeeRef | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(FIND_EMPLOYEE_BY_LINE, dialed)
        return EmployeeRef.model_validate(dict(row)) if row else None

    async def heads_of_sales(self) -> list[uuid.UUID]:
        async with self.pool.acquire() as conn:
            return [r["employee_id"] for r in await conn.fetch(HEADS_OF_SALES)]

    async def record_contact(self, call_id: str, client_id: uuid.UUID,
                             employee_id: uuid.UUID | None, caller: str | None, dialed: str,
                             occurred_at: datetime) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(RECORD_CONTACT, call_id, client_id, employee_id, caller, dialed,
                               occurred_at)
