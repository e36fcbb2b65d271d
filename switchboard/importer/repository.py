"""Loads parsed employees and clients into the client base: the only importer module that
touches asyncpg.

Each batch is one transaction: the rows are copied (COPY) into session-local temporary tables,
then merged into the real tables by a few set-based statements. Every write compares before it
writes (`IS DISTINCT FROM`), so importing the same file again writes nothing and reports every
row as unchanged. A value left empty in the file (or a column the file lacks) is "not given":
an insert takes the schema's default, an update keeps the current value. An import adds and
changes, it never deletes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from shared.clientbase import checks
from switchboard.importer.problems import Issue
from switchboard.importer.rows import ClientRow, EmployeeRow, client_id


@dataclass(frozen=True)
class Moved:
    """A phone number or range that belonged to another client and now belongs to this one."""

    line: int
    what: str  # "phone" or "range"
    value: str
    to_external_id: str
    from_external_id: str | None


@dataclass
class BatchResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    issues: list[Issue] = field(default_factory=list)  # found by the database
    moved: list[Moved] = field(default_factory=list)
    phones_written: int = 0
    ranges_written: int = 0
    owners_set: int = 0


_TEMP_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS import_employees (
    line integer, employee_id uuid, email text, name text, department text, role text,
    extension text, direct_number text, capacity integer
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS import_clients (
    line integer, client_id uuid, external_id text, name text, segment text, tax_id text,
    owner_email text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS import_client_phones (
    line integer, client_id uuid, phone text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS import_client_ranges (
    line integer, client_id uuid, prefix text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS import_client_owners (
    line integer, client_id uuid, owner_email text
) ON COMMIT DELETE ROWS;
"""

# An extension or direct number held by another employee is not taken away from them silently.
_EMPLOYEE_CONFLICTS = """
SELECT i.line, 'extension' AS field, i.extension AS value, e.email AS holder
  FROM import_employees i JOIN employees e ON e.extension = i.extension AND e.email <> i.email
UNION ALL
SELECT i.line, 'direct_number', i.direct_number, e.email
  FROM import_employees i
  JOIN employees e ON e.direct_number = i.direct_number AND e.email <> i.email
"""

_UPDATE_EMPLOYEES = """
UPDATE employees AS t
   SET name = i.name, department = i.department, role = i.role,
       extension = COALESCE(i.extension, t.extension),
       direct_number = COALESCE(i.direct_number, t.direct_number),
       capacity = COALESCE(i.capacity, t.capacity)
  FROM import_employees AS i
 WHERE t.email = i.email
   AND (t.name, t.department, t.role, t.extension, t.direct_number, t.capacity)
       IS DISTINCT FROM
       (i.name, i.department, i.role, COALESCE(i.extension, t.extension),
        COALESCE(i.direct_number, t.direct_number), COALESCE(i.capacity, t.capacity))
RETURNING i.line
"""

_INSERT_EMPLOYEES = """
INSERT INTO employees (employee_id, email, name, department, role, extension, direct_number,
                       capacity)
SELECT employee_id, email, name, department, role, extension, direct_number,
       COALESCE(capacity, $1)
  FROM import_employees AS i
 WHERE NOT EXISTS (SELECT 1 FROM employees e WHERE e.email = i.email)
ON CONFLICT DO NOTHING
RETURNING email
"""

# Ids come from the external id, but the conflict is on external_id itself, so a client that
# another tool created with another id is updated in place (`_CLIENT_IDS` finds its id).
_UPSERT_CLIENTS = """
INSERT INTO clients AS t (client_id, external_id, name, segment, tax_id)
SELECT client_id, external_id, name, segment, tax_id FROM import_clients
ON CONFLICT (external_id) DO UPDATE
   SET name = excluded.name, segment = excluded.segment,
       tax_id = COALESCE(excluded.tax_id, t.tax_id)
 WHERE (t.name, t.segment, t.tax_id)
       IS DISTINCT FROM (excluded.name, excluded.segment, COALESCE(excluded.tax_id, t.tax_id))
RETURNING t.external_id, (t.xmax = 0) AS inserted
"""

_CLIENT_IDS = "SELECT external_id, client_id FROM clients WHERE external_id = ANY($1::text[])"

# A number listed for a client moves to it from whichever client had it; the contact person
# recorded under the old client is not carried over.
# The previous client of a number is looked up only for the numbers written, one index probe
# each (LATERAL ... LIMIT 1): a join would scan the whole table for every batch. The query
# sees the table as it was before its own INSERT, so the probe finds the former client.
_UPSERT_NUMBERS = """
WITH written AS (
    INSERT INTO {table} AS t ({col}, client_id)
    SELECT {col}, client_id FROM {temp}
    ON CONFLICT ({col}) DO UPDATE SET client_id = excluded.client_id {extra}
     WHERE t.client_id <> excluded.client_id
    RETURNING t.{col}
)
SELECT s.line, w.{col} AS value, p.from_external_id
  FROM written AS w
  JOIN {temp} AS s USING ({col})
  LEFT JOIN LATERAL (
      SELECT o.external_id AS from_external_id
        FROM {table} AS n JOIN clients AS o ON o.client_id = n.client_id
       WHERE n.{col} = w.{col}
       LIMIT 1
  ) AS p ON true
"""
_UPSERT_PHONES = _UPSERT_NUMBERS.format(
    col="phone", temp="import_client_phones", table="client_phones",
    extra=", contact_name = NULL")
_UPSERT_RANGES = _UPSERT_NUMBERS.format(
    col="prefix", temp="import_client_ranges", table="client_number_ranges", extra="")

# The owner named by the file becomes the owner only if the client has none or another one;
# an unchanged owner keeps its `since` and its activity clock.
_UPSERT_OWNERSHIP = """
WITH src AS (
    SELECT DISTINCT ON (i.line) i.line, i.client_id, e.employee_id
      FROM import_client_owners AS i
      JOIN employees AS e ON lower(e.email) = i.owner_email
     ORDER BY i.line, (e.email = i.owner_email) DESC
), written AS (
    INSERT INTO ownership AS t (client_id, employee_id, since, last_activity_at)
    SELECT client_id, employee_id, $1, $1 FROM src
    ON CONFLICT (client_id) DO UPDATE
       SET employee_id = excluded.employee_id, since = excluded.since,
           last_activity_at = excluded.last_activity_at
     WHERE t.employee_id <> excluded.employee_id
    RETURNING t.client_id
)
SELECT src.line FROM written JOIN src USING (client_id)
"""

_UNKNOWN_OWNERS = """
SELECT i.line, i.owner_email FROM import_client_owners AS i
 WHERE NOT EXISTS (SELECT 1 FROM employees AS e WHERE lower(e.email) = i.owner_email)
"""


class ImportRepository:
    """Writes batches of rows on one connection, one transaction per batch."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._ready = False

    async def _prepare(self) -> None:
        if not self._ready:
            await self.conn.execute(_TEMP_TABLES)
            self._ready = True

    async def upsert_employees(self, rows: Sequence[EmployeeRow],
                               default_capacity: int) -> BatchResult:
        await self._prepare()
        result = BatchResult()
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(
                "import_employees",
                records=[(r.line, r.employee_id, r.email, r.name, r.department.value,
                          r.role.value, r.extension, r.direct_number, r.capacity) for r in rows],
                columns=["line", "employee_id", "email", "name", "department", "role",
                         "extension", "direct_number", "capacity"],
            )
            conflicts = await self.conn.fetch(_EMPLOYEE_CONFLICTS)
            if conflicts:
                result.issues = [
                    Issue(c["line"], c["field"], checks.held_by(c["value"], c["holder"]))
                    for c in conflicts
                ]
                await self.conn.execute("DELETE FROM import_employees WHERE line = ANY($1)",
                                        [c["line"] for c in conflicts])
            updated = await self.conn.fetch(_UPDATE_EMPLOYEES)
            inserted = await self.conn.fetch(_INSERT_EMPLOYEES, default_capacity)
        result.updated, result.inserted = len(updated), len(inserted)
        rejected_lines = {i.line for i in result.issues}
        result.unchanged = len(rows) - len(rejected_lines) - result.updated - result.inserted
        return result

    async def upsert_clients(self, rows: Sequence[ClientRow], now: datetime) -> BatchResult:
        await self._prepare()
        line_of = {r.external_id: r.line for r in rows}
        result = BatchResult()
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(
                "import_clients",
                records=[(r.line, r.client_id, r.external_id, r.name, r.segment.value,
                          r.tax_id) for r in rows],
                columns=["line", "client_id", "external_id", "name", "segment", "tax_id"],
            )
            clients = await self.conn.fetch(_UPSERT_CLIENTS)
            ids = {c["external_id"]: client_id(c["external_id"]) for c in clients
                   if c["inserted"]}
            ids.update(await self.conn.fetch(_CLIENT_IDS, [e for e in line_of if e not in ids]))
            for table, column, records in (
                ("import_client_phones", "phone",
                 [(r.line, ids[r.external_id], p) for r in rows for p in r.phones]),
                ("import_client_ranges", "prefix",
                 [(r.line, ids[r.external_id], p) for r in rows for p in r.number_ranges]),
                ("import_client_owners", "owner_email",
                 [(r.line, ids[r.external_id], r.owner_email) for r in rows if r.owner_email]),
            ):
                if records:
                    await self.conn.copy_records_to_table(
                        table, records=records, columns=["line", "client_id", column])
            await self.conn.execute("ANALYZE import_client_phones, import_client_ranges, "
                                    "import_client_owners")
            phones = await self.conn.fetch(_UPSERT_PHONES)
            ranges = await self.conn.fetch(_UPSERT_RANGES)
            owners = await self.conn.fetch(_UPSERT_OWNERSHIP, now)
            unknown = await self.conn.fetch(_UNKNOWN_OWNERS)

        external_of = {line: external_id for external_id, line in line_of.items()}
        inserted = {line_of[c["external_id"]] for c in clients if c["inserted"]}
        changed = {line_of[c["external_id"]] for c in clients if not c["inserted"]}
        changed |= {r["line"] for r in phones} | {r["line"] for r in ranges}
        changed |= {r["line"] for r in owners}
        changed -= inserted
        result.inserted, result.updated = len(inserted), len(changed)
        result.unchanged = len(rows) - result.inserted - result.updated
        result.phones_written, result.ranges_written = len(phones), len(ranges)
        result.owners_set = len(owners)
        for what, written in (("phone", phones), ("range", ranges)):
            result.moved += [Moved(r["line"], what, r["value"], external_of[r["line"]],
                                   r["from_external_id"])
                             for r in written if r["from_external_id"] is not None]
        result.issues = [
            Issue(u["line"], "owner_email",
                  f"{checks.no_such_employee(u['owner_email'])}; no owner set "
                  f"(import the employees first)", rejected=False)
            for u in unknown
        ]
        return result
