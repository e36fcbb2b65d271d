"""The read side of the client base. The only module of the lookup that touches asyncpg."""

from __future__ import annotations

import asyncpg

from services.lookup.policy import CallerRecord, OwnershipRecord
from shared.events import ClientRef, EmployeeRef

# The client by exact number, else by the longest corporate range that prefixes the number.
# $2 holds every prefix of the number, so both branches are primary-key look-ups.
FIND_CLIENT = """
SELECT client_id, name, segment FROM (
    SELECT c.client_id, c.name, c.segment, 1000 AS rank
    FROM clients c JOIN client_phones p USING (client_id)
    WHERE p.phone = $1
    UNION ALL
    SELECT c.client_id, c.name, c.segment, length(r.prefix) AS rank
    FROM clients c JOIN client_number_ranges r USING (client_id)
    WHERE r.prefix = ANY($2::text[])
) found
ORDER BY rank DESC
LIMIT 1
"""

FIND_OWNERSHIP = """
SELECT e.employee_id, e.name, e.department, o.since, o.last_activity_at
FROM ownership o JOIN employees e USING (employee_id)
WHERE o.client_id = $1
"""

FIND_EMPLOYEE_BY_LINE = """
SELECT employee_id, name, department FROM employees
WHERE extension = $1 OR direct_number = $1
LIMIT 1
"""


def prefixes(number: str) -> list[str]:
    """'+7495100' -> ['+7', '+74', ..., '+7495100']: the ranges that could cover the number."""
    return [number[:i] for i in range(2, len(number) + 1)]


class ClientBase:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def find_caller(self, number: str | None) -> CallerRecord:
        if not number:
            return CallerRecord()
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(FIND_CLIENT, number, prefixes(number))
            if row is None:
                return CallerRecord()
            client = ClientRef(client_id=row["client_id"], name=row["name"],
                               segment=row["segment"])
            owner = await conn.fetchrow(FIND_OWNERSHIP, client.client_id)
        if owner is None:
            return CallerRecord(client=client)
        return CallerRecord(
            client=client,
            ownership=OwnershipRecord(
                owner=EmployeeRef(employee_id=owner["employee_id"], name=owner["name"],
                                  department=owner["department"]),
                since=owner["since"],
                last_activity_at=owner["last_activity_at"],
            ),
        )

    async def find_employee_by_line(self, dialed: str) -> EmployeeRef | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(FIND_EMPLOYEE_BY_LINE, dialed)
        if row is None:
            return None
        return EmployeeRef(employee_id=row["employee_id"], name=row["name"],
                           department=row["department"])
