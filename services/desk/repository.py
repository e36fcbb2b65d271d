"""The desk's tables (the calls people see), a person's language and the client record a
person corrects; and what the sales screens read of the client base and of the assignment's
tables (leads, outcomes, the negotiators' records), never writing them. The only module of
the desk that touches asyncpg. Plain SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime

import asyncpg

from services.desk.policy import ClientRecord, DeskCall
from services.desk.sales import Colleague, Contact, LeadStatus, MyLead
from shared.chances import Record
from shared.events import CallEnriched, CallQualified, CallRouted, Role

# Each part once, whichever event brings it first. The PBX's start time comes with the
# enrichment; until then the earliest moment heard of stands in for it.
RECORD_CALL = """
INSERT INTO desk_calls AS d (call_id, started_at, enriched, routed, answered_at, hung_up_at,
                             qualification, qualified_at)
VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7::jsonb, $8)
ON CONFLICT (call_id) DO UPDATE SET
    started_at = CASE WHEN d.enriched IS NOT NULL THEN d.started_at
                      WHEN excluded.enriched IS NOT NULL THEN excluded.started_at
                      ELSE least(d.started_at, excluded.started_at) END,
    enriched = coalesce(d.enriched, excluded.enriched),
    routed = coalesce(d.routed, excluded.routed),
    answered_at = coalesce(d.answered_at, excluded.answered_at),
    hung_up_at = coalesce(d.hung_up_at, excluded.hung_up_at),
    qualification = coalesce(d.qualification, excluded.qualification),
    qualified_at = coalesce(d.qualified_at, excluded.qualified_at)
"""

CALL_COLUMNS = "call_id, started_at, enriched, routed, answered_at, hung_up_at, qualification"

# Only the calls whose card can be on a screen (`policy.card_shown`): a call that ended
# unanswered is off every screen, and must not take one of the newest `limit` places.
OPEN_CALLS = f"""
SELECT {CALL_COLUMNS} FROM desk_calls
WHERE qualified_at IS NULL AND started_at > $1
  AND (hung_up_at IS NULL OR answered_at IS NOT NULL)
ORDER BY started_at DESC
LIMIT $2
"""

FIND_CALL = f"SELECT {CALL_COLUMNS} FROM desk_calls WHERE call_id = $1"

CLAIM_CALL = "SELECT qualification FROM desk_calls WHERE call_id = $1 FOR UPDATE"

RECORD_QUALIFICATION = """
UPDATE desk_calls SET qualification = $2::jsonb, qualified_at = $3, qualified_by = $4,
                      comment = $5
WHERE call_id = $1
"""

SAVE_LOCALE = "UPDATE employees SET locale = $2 WHERE employee_id = $1"

CLIENT_RECORD = """
SELECT c.external_id, c.name, c.segment,
       (SELECT coalesce(json_object_agg(phone, contact_name), '{}')
        FROM client_phones WHERE client_id = c.client_id) AS phones,
       array(SELECT prefix FROM client_number_ranges WHERE client_id = c.client_id
             ORDER BY prefix) AS number_ranges
FROM clients c WHERE c.client_id = $1
"""


# --- the sales screens: read only ----------------------------------------------------------

# The commercial department's active members, with their open leads and their won and lost
# leads per kind (segment, size class).
COLLEAGUES = """
SELECT e.employee_id, e.name, e.role, e.capacity, e.active, e.on_leave,
       (SELECT count(*) FROM leads l
        WHERE l.employee_id = e.employee_id AND l.status = 'open') AS load,
       coalesce((SELECT json_agg(json_build_array(r.segment, r.size_class, r.won, r.lost))
                 FROM negotiator_records r WHERE r.employee_id = e.employee_id), '[]') AS records
FROM employees e
WHERE e.department = 'commercial' AND e.active
ORDER BY e.name, e.employee_id
"""

# The lead a call made, and whether it waits in the head's inbox (the assignment's words:
# open, nobody given it yet, a deadline set).
LEAD_OF_CALL = """
SELECT lead_id, (employee_id IS NULL AND status = 'open' AND due_at IS NOT NULL) AS waiting
FROM leads WHERE call_id = $1
"""

_LEAD_COLUMNS = """
l.lead_id, l.call_id, l.employee_id, l.client_id, coalesce(c.name, l.client_name) AS client_name,
l.caller, coalesce(l.segment, c.segment) AS segment, l.size_class, l.value, l.currency, l.status,
l.created_at, l.decided_at, l.strategy, o.final_value, o.currency AS final_currency, o.closed_at
"""

# A person's leads: every open one, and those closed since $2.
LEADS_OF = f"""
SELECT {_LEAD_COLUMNS}
FROM leads l LEFT JOIN clients c ON c.client_id = l.client_id
LEFT JOIN lead_outcomes o ON o.lead_id = l.lead_id
WHERE l.employee_id = $1
  AND (l.status = 'open' OR coalesce(o.closed_at, l.decided_at, l.created_at) > $2)
ORDER BY l.created_at DESC
LIMIT $3
"""

LEAD = f"""
SELECT {_LEAD_COLUMNS}
FROM leads l LEFT JOIN clients c ON c.client_id = l.client_id
LEFT JOIN lead_outcomes o ON o.lead_id = l.lead_id
WHERE l.lead_id = $1
"""

# The last $2 contacts of each client of $1, the latest first.
CLIENT_HISTORY = """
SELECT client_id, call_id, occurred_at, name, department FROM (
    SELECT k.client_id, k.call_id, k.occurred_at, e.name, e.department,
           row_number() OVER (PARTITION BY k.client_id ORDER BY k.occurred_at DESC) AS n
    FROM contacts k LEFT JOIN employees e ON e.employee_id = k.employee_id
    WHERE k.client_id = ANY($1::uuid[])) AS recent
WHERE n <= $2
ORDER BY client_id, occurred_at DESC
"""

# The calls flagged as shopping around since $1, of the clients owned by $2 (all when NULL).
SHOPPING_CALLS = """
SELECT enriched FROM desk_calls
WHERE started_at > $1 AND (enriched->>'shopping_around')::boolean
  AND ($2::text IS NULL OR enriched->'ownership'->'owner'->>'employee_id' = $2)
ORDER BY started_at DESC
LIMIT $3
"""

# The dashboard: hours and days in the desk's time zone ($2).
CALLS_PER_HOUR = """
SELECT date_trunc('hour', started_at AT TIME ZONE $2) AS hour,
       routed->>'destination' AS destination, count(*) AS calls
FROM desk_calls WHERE started_at > $1
GROUP BY 1, 2
"""

ALERTS_PER_DAY = """
SELECT (started_at AT TIME ZONE $2)::date AS day, count(*) AS alerts
FROM desk_calls WHERE started_at > $1 AND (enriched->>'shopping_around')::boolean
GROUP BY 1
"""

COMMERCIAL_STRATEGIES = """
SELECT strategy, count(*) AS leads FROM leads
WHERE destination = 'commercial_department' AND decided_at > $1 AND strategy IS NOT NULL
GROUP BY strategy
"""

# From the call's start (as the desk heard of it; else the lead's creation) to the assignee.
ASSIGNMENT_DELAYS = """
SELECT extract(epoch FROM l.decided_at - coalesce(d.started_at, l.created_at))::float8 AS seconds
FROM leads l LEFT JOIN desk_calls d ON d.call_id = l.call_id
WHERE l.destination = 'commercial_department' AND l.decided_at > $1
LIMIT 100000
"""


def _colleague(row: asyncpg.Record) -> Colleague:
    records = {(segment, size): Record(won, lost)
               for segment, size, won, lost in json.loads(row["records"])}
    return Colleague(row["employee_id"], row["name"], Role(row["role"]), row["load"],
                     row["capacity"], row["active"], row["on_leave"], records)


def _lead(row: asyncpg.Record, history: tuple[Contact, ...] = ()) -> MyLead:
    return MyLead(
        lead_id=row["lead_id"], call_id=row["call_id"], employee_id=row["employee_id"],
        client_id=row["client_id"], client_name=row["client_name"], caller=row["caller"],
        segment=row["segment"], size_class=row["size_class"], value=row["value"],
        currency=row["currency"], status=LeadStatus(row["status"]),
        created_at=row["created_at"], decided_at=row["decided_at"], strategy=row["strategy"],
        final_value=row["final_value"], final_currency=row["final_currency"],
        closed_at=row["closed_at"], history=history)


def _json(model: object | None) -> str | None:
    return model.model_dump_json() if model is not None else None  # type: ignore[attr-defined]


def _call(row: asyncpg.Record) -> DeskCall:
    return DeskCall(
        call_id=row["call_id"],
        started_at=row["started_at"],
        enriched=CallEnriched.model_validate_json(row["enriched"]) if row["enriched"] else None,
        routed=CallRouted.model_validate_json(row["routed"]) if row["routed"] else None,
        answered_at=row["answered_at"],
        hung_up_at=row["hung_up_at"],
        qualified=(CallQualified.model_validate_json(row["qualification"])
                   if row["qualification"] else None),
    )


def _record_arguments(call: DeskCall) -> tuple[object, ...]:
    return (call.call_id, call.started_at, _json(call.enriched), _json(call.routed),
            call.answered_at, call.hung_up_at, _json(call.qualified),
            call.qualified.occurred_at if call.qualified else None)


class Claim:
    """A call held (row lock) while it is qualified: `existing` is the verdict it already
    has, if any; `record` writes the new one in the same transaction."""

    def __init__(self, conn: asyncpg.Connection, call_id: str,
                 existing: CallQualified | None) -> None:
        self._conn, self._call_id, self.existing = conn, call_id, existing

    async def record(self, event: CallQualified, comment: str | None, by: str) -> None:
        await self._conn.execute(RECORD_QUALIFICATION, self._call_id, event.model_dump_json(),
                                 event.occurred_at, by, comment)


class DeskStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, call: DeskCall) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(RECORD_CALL, *_record_arguments(call))

    async def open_calls(self, since: datetime, limit: int = 500) -> list[DeskCall]:
        async with self.pool.acquire() as conn:
            return [_call(row) for row in await conn.fetch(OPEN_CALLS, since, limit)]

    async def find(self, call_id: str) -> DeskCall | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(FIND_CALL, call_id)
        return _call(row) if row else None

    @asynccontextmanager
    async def qualifying(self, call: DeskCall) -> AsyncIterator[Claim]:
        """The call's row, written if this is the first the database hears of it, and held
        until the verdict is recorded (a second verdict at the same time waits, then finds
        the first)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(RECORD_CALL, *_record_arguments(call))
            existing = await conn.fetchval(CLAIM_CALL, call.call_id)
            yield Claim(conn, call.call_id,
                        CallQualified.model_validate_json(existing) if existing else None)

    async def save_locale(self, employee_id: uuid.UUID, locale: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(SAVE_LOCALE, employee_id, locale)

    async def client_record(self, client_id: uuid.UUID) -> ClientRecord | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(CLIENT_RECORD, client_id)
        if row is None:
            return None
        return ClientRecord(row["external_id"], row["name"], row["segment"],
                            json.loads(row["phones"]), list(row["number_ranges"]))

    # --- the sales screens ---------------------------------------------------------------

    async def colleagues(self) -> list[Colleague]:
        async with self.pool.acquire() as conn:
            return [_colleague(row) for row in await conn.fetch(COLLEAGUES)]

    async def lead_of_call(self, call_id: str) -> tuple[uuid.UUID, bool] | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(LEAD_OF_CALL, call_id)
        return (row["lead_id"], row["waiting"]) if row else None

    async def leads_of(self, employee_id: uuid.UUID, closed_since: datetime,
                       history: int = 5, limit: int = 300) -> list[MyLead]:
        """A person's leads (open, and closed since `closed_since`), each with the last
        `history` contacts of its client."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(LEADS_OF, employee_id, closed_since, limit)
            contacts = await self._history(conn, [r["client_id"] for r in rows], history)
        return [_lead(r, contacts.get(r["client_id"], ())) for r in rows]

    async def lead(self, lead_id: uuid.UUID, history: int = 5) -> MyLead | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(LEAD, lead_id)
            if row is None:
                return None
            contacts = await self._history(conn, [row["client_id"]], history)
        return _lead(row, contacts.get(row["client_id"], ()))

    @staticmethod
    async def _history(conn: asyncpg.Connection, client_ids: list[uuid.UUID | None],
                       per_client: int) -> dict[uuid.UUID, tuple[Contact, ...]]:
        wanted = sorted({c for c in client_ids if c is not None})
        if not wanted:
            return {}
        found: dict[uuid.UUID, list[Contact]] = {}
        for row in await conn.fetch(CLIENT_HISTORY, wanted, per_client):
            found.setdefault(row["client_id"], []).append(
                Contact(row["call_id"], row["occurred_at"], row["name"], row["department"]))
        return {client: tuple(contacts) for client, contacts in found.items()}

    async def shopping_calls(self, since: datetime, owner_id: uuid.UUID | None = None,
                             limit: int = 30) -> list[CallEnriched]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(SHOPPING_CALLS, since,
                                    str(owner_id) if owner_id else None, limit)
        return [CallEnriched.model_validate_json(row["enriched"]) for row in rows]

    async def calls_per_hour(self, since: datetime, zone: str
                             ) -> list[tuple[datetime, str | None, int]]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(CALLS_PER_HOUR, since, zone)
        return [(r["hour"], r["destination"], r["calls"]) for r in rows]

    async def alerts_per_day(self, since: datetime, zone: str) -> list[tuple[date, int]]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(ALERTS_PER_DAY, since, zone)
        return [(r["day"], r["alerts"]) for r in rows]

    async def commercial_strategies(self, since: datetime) -> list[tuple[str, int]]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(COMMERCIAL_STRATEGIES, since)
        return [(r["strategy"], r["leads"]) for r in rows]

    async def assignment_delays(self, since: datetime) -> list[float]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(ASSIGNMENT_DELAYS, since)
        return [r["seconds"] for r in rows if r["seconds"] is not None]
