"""The desk's tables (the calls people see), a person's language and the client record a
person corrects. The only module of the desk that touches asyncpg. Plain SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from services.desk.policy import ClientRecord, DeskCall
from shared.events import CallEnriched, CallQualified, CallRouted

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

OPEN_CALLS = f"""
SELECT {CALL_COLUMNS} FROM desk_calls
WHERE qualified_at IS NULL AND started_at > $1
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
