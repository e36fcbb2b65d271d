"""The client base: what the lookup reads of a caller, the contact log, and the changes a CRM
makes (clients, their numbers and owners, employees; the lead of an outcome). The only module
of the lookup that touches asyncpg. Queries are plain SQL; asyncpg prepares and caches each
per connection."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import asyncpg

from services.lookup.changes import (ClientChanges, ClientPhone, ClientRecord, Employee,
                                     EmployeeRecord, LeadToClose, MovedNumber, Refusal,
                                     ReportedOutcome, StoredClient, StoredEmployee)
from services.lookup.policy import CallerRecord, Contact, OwnershipRecord
from shared.access.principals import Principal
from shared.access.store import audit
from shared.events import ClientRef, ContactRef, Department, EmployeeRef, LeadRef, Role, Segment

HISTORY_LIMIT = 20

# For each number: the client by exact number, else by the longest corporate range that
# prefixes the number (every prefix of the number is tried, so both branches are primary-key
# look-ups), with its owner, open leads and recent contacts (other than the call), all the
# batch's numbers in one round trip. A number of no client has no row.
FIND_CALLERS = """
SELECT n.ord, f.client_id, f.name, f.segment,
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
              ORDER BY created_at DESC LIMIT $3) l) AS open_leads,
       (SELECT coalesce(json_agg(k ORDER BY k.occurred_at DESC), '[]')
        FROM (SELECT c.call_id, c.occurred_at, c.employee_id, ce.name, ce.department
              FROM contacts c LEFT JOIN employees ce USING (employee_id)
              WHERE c.client_id = f.client_id AND c.call_id <> n.call_id
              ORDER BY c.occurred_at DESC LIMIT $3) k) AS recent_contacts
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS n(number, call_id, ord)
CROSS JOIN LATERAL (
    SELECT client_id, name, segment FROM (
        SELECT c.client_id, c.name, c.segment, 1000 AS rank
        FROM clients c JOIN client_phones p USING (client_id)
        WHERE p.phone = n.number
        UNION ALL
        SELECT c.client_id, c.name, c.segment, length(r.prefix) AS rank
        FROM clients c JOIN client_number_ranges r USING (client_id)
        WHERE r.prefix = ANY(ARRAY(SELECT left(n.number, i)
                                   FROM generate_series(2, length(n.number)) AS i))
    ) candidates
    ORDER BY rank DESC
    LIMIT 1
) f
LEFT JOIN ownership o USING (client_id)
LEFT JOIN employees e ON e.employee_id = o.employee_id
"""

# The employee behind each dialed line (an extension or a direct number).
FIND_EMPLOYEES_BY_LINE = """
SELECT DISTINCT ON (d.dialed) d.dialed, e.employee_id, e.name, e.department, e.role, e.active,
       e.on_leave, e.extension, e.direct_number AS number
FROM unnest($1::text[]) AS d(dialed)
JOIN employees e ON e.extension = d.dialed OR e.direct_number = d.dialed
ORDER BY d.dialed, e.email
"""

HEADS_OF_SALES = """
SELECT employee_id FROM employees
WHERE department = 'commercial' AND role = 'head' AND active
ORDER BY email
"""

# Once per call, whatever the redeliveries.
RECORD_CONTACTS = """
INSERT INTO contacts (call_id, client_id, employee_id, caller, dialed, occurred_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                     $6::timestamptz[])
ON CONFLICT (call_id) DO NOTHING
"""


def _contact(item: dict) -> ContactRef:
    employee = None
    if item["employee_id"]:
        employee = EmployeeRef(employee_id=item["employee_id"], name=item["name"],
                               department=item["department"])
    return ContactRef(call_id=item["call_id"], occurred_at=item["occurred_at"],
                      employee=employee)


def _caller(row: asyncpg.Record) -> CallerRecord:
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
        client=ClientRef(client_id=row["client_id"], name=row["name"], segment=row["segment"]),
        ownership=ownership,
        open_leads=[LeadRef.model_validate(x) for x in json.loads(row["open_leads"])],
        recent_contacts=[_contact(x) for x in json.loads(row["recent_contacts"])],
    )


class ClientBase:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def find_caller(self, number: str | None, call_id: str = "") -> CallerRecord:
        """The caller's client, owner, open leads and contacts (other than this call)."""
        [caller] = await self.find_callers([(number, call_id)])
        return caller

    async def find_callers(self, calls: Sequence[tuple[str | None, str]]) -> list[CallerRecord]:
        """`find_caller` for each (number, call id), in one round trip, in the same order."""
        asked = [(i, number, call_id) for i, (number, call_id) in enumerate(calls) if number]
        found = [CallerRecord() for _ in calls]
        if not asked:
            return found
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(FIND_CALLERS, [number for _, number, _ in asked],
                                    [call_id for *_, call_id in asked], HISTORY_LIMIT)
        for row in rows:
            found[asked[row["ord"] - 1][0]] = _caller(row)
        return found

    async def find_employees_by_line(self, dialed: Sequence[str]) -> dict[str, EmployeeRef]:
        """The employee whose extension or direct number each dialed line is, when one is."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(FIND_EMPLOYEES_BY_LINE, sorted(set(dialed)))
        return {row["dialed"]: EmployeeRef.model_validate(
            {k: v for k, v in row.items() if k != "dialed"}) for row in rows}

    async def heads_of_sales(self) -> list[uuid.UUID]:
        async with self.pool.acquire() as conn:
            return [r["employee_id"] for r in await conn.fetch(HEADS_OF_SALES)]

    async def record_contacts(self, contacts: Sequence[Contact]) -> None:
        if not contacts:
            return
        async with self.pool.acquire() as conn:
            await conn.execute(RECORD_CONTACTS, *(list(column) for column in zip(*contacts)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ChangeTransaction]:
        """One transaction of a CRM's request."""
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield ChangeTransaction(conn)
            except asyncpg.UniqueViolationError as error:
                # A concurrent request took the value between the check and the write.
                where = _UNIQUE_FIELDS.get(error.constraint_name or "", "body")
                raise Refusal("conflict", f"{where} is taken: {error.detail or error}",
                              where) from error


# --- a CRM's changes -------------------------------------------------------------------------

LOCK_CLIENT = """
SELECT c.client_id, c.external_id, c.name, c.segment, c.tax_id, o.employee_id AS owner_id,
       ARRAY(SELECT phone FROM client_phones WHERE client_id = c.client_id ORDER BY phone)
           AS phones,
       ARRAY(SELECT contact_name FROM client_phones WHERE client_id = c.client_id
             ORDER BY phone) AS contact_names,
       ARRAY(SELECT prefix FROM client_number_ranges WHERE client_id = c.client_id
             ORDER BY prefix) AS number_ranges
FROM clients c LEFT JOIN ownership o USING (client_id)
WHERE c.external_id = $1
FOR UPDATE OF c
"""

INSERT_CLIENT = """
INSERT INTO clients (client_id, external_id, name, segment, tax_id) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING client_id
"""

NUMBERS_OF_OTHER_CLIENTS = """
SELECT p.phone AS number, c.external_id
  FROM client_phones p JOIN clients c USING (client_id)
 WHERE p.phone = ANY($2::text[]) AND p.client_id <> $1
UNION ALL
SELECT r.prefix, c.external_id
  FROM client_number_ranges r JOIN clients c USING (client_id)
 WHERE r.prefix = ANY($3::text[]) AND r.client_id <> $1
"""

# The client's numbers are the ones listed: the others are no longer its; a listed number
# that another client had moves to this one (as in an import).
DROP_OTHER_PHONES = "DELETE FROM client_phones WHERE client_id = $1 AND phone <> ALL($2::text[])"
WRITE_PHONES = """
INSERT INTO client_phones AS t (phone, client_id, contact_name)
SELECT number, $1, contact_name FROM unnest($2::text[], $3::text[]) AS n(number, contact_name)
ON CONFLICT (phone) DO UPDATE SET client_id = excluded.client_id,
                                  contact_name = excluded.contact_name
 WHERE (t.client_id, t.contact_name) IS DISTINCT FROM (excluded.client_id, excluded.contact_name)
"""
DROP_OTHER_RANGES = ("DELETE FROM client_number_ranges WHERE client_id = $1 "
                     "AND prefix <> ALL($2::text[])")
WRITE_RANGES = """
INSERT INTO client_number_ranges AS t (prefix, client_id)
SELECT prefix, $1 FROM unnest($2::text[]) AS r(prefix)
ON CONFLICT (prefix) DO UPDATE SET client_id = excluded.client_id
 WHERE t.client_id <> excluded.client_id
"""

# A new owner owns the client from now on (since and last activity: now), as after an import.
SET_OWNER = """
INSERT INTO ownership AS t (client_id, employee_id, since, last_activity_at)
VALUES ($1, $2, $3, $3)
ON CONFLICT (client_id) DO UPDATE
   SET employee_id = excluded.employee_id, since = excluded.since,
       last_activity_at = excluded.last_activity_at
 WHERE t.employee_id <> excluded.employee_id
"""
FREE_CLIENT = "DELETE FROM ownership WHERE client_id = $1"

# The leads of a deleted client stay, as the history of the deals (their client's name too).
DETACH_LEADS = "UPDATE leads SET client_id = NULL WHERE client_id = $1"
DELETE_CLIENT = "DELETE FROM clients WHERE client_id = $1"  # numbers, owner, contacts cascade

EMPLOYEE_BY_EMAIL = """
SELECT employee_id, email, name FROM employees WHERE lower(email) = $1
ORDER BY (email = $1) DESC LIMIT 1
"""

LOCK_EMPLOYEE = """
SELECT employee_id, email, name, department, role, extension, direct_number, capacity, active,
       on_leave
FROM employees WHERE email = $1
FOR UPDATE
"""

# The columns a CRM may set: the only names the statements below are built with.
EMPLOYEE_COLUMNS = ("name", "department", "role", "extension", "direct_number", "capacity",
                    "active", "on_leave")
CLIENT_COLUMNS = ("name", "segment", "tax_id")
LINE_COLUMNS = ("extension", "direct_number")

LOCK_LEAD = "SELECT lead_id, call_id, client_id, status FROM leads WHERE lead_id = $1 FOR UPDATE"

REPORTED_BY_API = """
SELECT detail FROM audit_log
WHERE action = 'deal.outcome' AND subject = $1 AND at > $2
ORDER BY audit_id DESC LIMIT 1
"""
RECORDED_OUTCOME = "SELECT outcome, final_value, currency FROM lead_outcomes WHERE lead_id = $1"

# What a unique key of the client base means to the one who sent the request.
_UNIQUE_FIELDS = {"employees_extension_key": "extension",
                  "employees_direct_number_key": "direct_number",
                  "employees_email_key": "email", "employees_pkey": "email",
                  "clients_external_id_key": "external_id", "clients_pkey": "external_id"}


def _value(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


def _assignments(columns: dict[str, Any], allowed: tuple[str, ...]) -> tuple[str, list[Any]]:
    """`a = $2, b = $3` and the values, for columns among `allowed` ($1 is the key)."""
    assert set(columns) <= set(allowed), columns
    names = list(columns)
    return (", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2)),
            [_value(columns[name]) for name in names])


class ChangeTransaction:
    """A CRM's request, in one transaction of the client base (`service.ChangeTransaction`)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_client(self, external_id: str) -> StoredClient | None:
        row = await self.conn.fetchrow(LOCK_CLIENT, external_id)
        if row is None:
            return None
        return StoredClient(
            client_id=row["client_id"], external_id=row["external_id"], name=row["name"],
            segment=Segment(row["segment"]), tax_id=row["tax_id"],
            phones=tuple(ClientPhone(n, c) for n, c in zip(row["phones"], row["contact_names"],
                                                            strict=True)),
            number_ranges=tuple(row["number_ranges"]), owner_id=row["owner_id"])

    async def insert_client(self, record: ClientRecord) -> bool:
        columns = record.columns()
        inserted = await self.conn.fetchval(INSERT_CLIENT, record.client_id, record.external_id,
                                            columns["name"], columns["segment"].value,
                                            columns.get("tax_id"))
        return inserted is not None

    async def numbers_of_other_clients(self, client_id: uuid.UUID, phones: list[str],
                                       prefixes: list[str]) -> list[MovedNumber]:
        if not phones and not prefixes:
            return []
        rows = await self.conn.fetch(NUMBERS_OF_OTHER_CLIENTS, client_id, phones, prefixes)
        return [MovedNumber(r["number"], r["external_id"]) for r in rows]

    async def write_client(self, client_id: uuid.UUID, changes: ClientChanges,
                           now: datetime) -> None:
        if changes.columns:
            assignments, values = _assignments(changes.columns, CLIENT_COLUMNS)
            await self.conn.execute(f"UPDATE clients SET {assignments} WHERE client_id = $1",
                                    client_id, *values)
        if changes.phones is not None:
            numbers = [p.number for p in changes.phones]
            await self.conn.execute(DROP_OTHER_PHONES, client_id, numbers)
            await self.conn.execute(WRITE_PHONES, client_id, numbers,
                                    [p.contact_name for p in changes.phones])
        if changes.number_ranges is not None:
            prefixes = list(changes.number_ranges)
            await self.conn.execute(DROP_OTHER_RANGES, client_id, prefixes)
            await self.conn.execute(WRITE_RANGES, client_id, prefixes)
        if changes.owner is None:
            await self.conn.execute(FREE_CLIENT, client_id)
        elif isinstance(changes.owner, uuid.UUID):
            await self.conn.execute(SET_OWNER, client_id, changes.owner, now)

    async def delete_client(self, client_id: uuid.UUID) -> int:
        detached = await self.conn.execute(DETACH_LEADS, client_id)
        await self.conn.execute(DELETE_CLIENT, client_id)
        return int(detached.split()[-1])

    async def employee_by_email(self, email: str) -> Employee | None:
        row = await self.conn.fetchrow(EMPLOYEE_BY_EMAIL, email)
        return Employee(row["employee_id"], row["email"], row["name"]) if row else None

    async def lock_employee(self, email: str) -> StoredEmployee | None:
        row = await self.conn.fetchrow(LOCK_EMPLOYEE, email)
        if row is None:
            return None
        return StoredEmployee(**{**dict(row), "department": Department(row["department"]),
                                 "role": Role(row["role"])})

    async def insert_employee(self, record: EmployeeRecord) -> bool:
        given = record.given()
        assert set(given) <= set(EMPLOYEE_COLUMNS), given
        names = ["employee_id", "email", *given]
        values = [record.employee_id, record.email, *map(_value, given.values())]
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        inserted = await self.conn.fetchval(
            f"INSERT INTO employees ({', '.join(names)}) VALUES ({placeholders}) "
            "ON CONFLICT (email) DO NOTHING RETURNING employee_id", *values)
        return inserted is not None

    async def update_employee(self, employee_id: uuid.UUID, columns: dict[str, Any]) -> None:
        assignments, values = _assignments(columns, EMPLOYEE_COLUMNS)
        await self.conn.execute(f"UPDATE employees SET {assignments} WHERE employee_id = $1",
                                employee_id, *values)

    async def holder_of_line(self, column: str, value: str, email: str) -> str | None:
        assert column in LINE_COLUMNS, column
        return await self.conn.fetchval(
            f"SELECT email FROM employees WHERE {column} = $1 AND email <> $2 LIMIT 1",
            value, email)

    async def lock_lead(self, lead_id: uuid.UUID) -> LeadToClose | None:
        row = await self.conn.fetchrow(LOCK_LEAD, lead_id)
        return LeadToClose(**dict(row)) if row else None

    async def reported_outcome(self, lead: LeadToClose, since: datetime
                               ) -> ReportedOutcome | None:
        detail = await self.conn.fetchval(REPORTED_BY_API, str(lead.lead_id), since)
        if detail is not None:
            reported = json.loads(detail)
            return ReportedOutcome(
                reported["outcome"],
                Decimal(reported["value"]) if reported.get("value") is not None else None,
                reported.get("currency"))
        if lead.status == "open":
            return None
        row = await self.conn.fetchrow(RECORDED_OUTCOME, lead.lead_id)
        if row is None:
            return ReportedOutcome(lead.status, values_known=False)
        return ReportedOutcome(row["outcome"], row["final_value"], row["currency"])

    async def audit(self, principal: Principal, action: str, subject: str,
                    detail: dict[str, Any]) -> None:
        await audit(self.conn, principal, action, subject, detail)
