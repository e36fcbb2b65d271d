"""The intake's memory of accepted calls. The only module of the intake that touches asyncpg."""

from __future__ import annotations

import asyncpg

from shared.events import CallReceived

CLAIM = """
INSERT INTO intake_calls (call_id, event_id, dialect) VALUES ($1, $2, $3)
ON CONFLICT (call_id) DO NOTHING
"""
PUBLISHED = "SELECT published_at IS NOT NULL FROM intake_calls WHERE call_id = $1"
MARK_PUBLISHED = "UPDATE intake_calls SET published_at = now() WHERE call_id = $1"


class AcceptedCalls:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def needs_publishing(self, call: CallReceived) -> bool:
        """False when this call's CallReceived was published already (a retry, or a second
        start event of the same call)."""
        async with self.pool.acquire() as conn:
            await conn.execute(CLAIM, call.call_id, call.event_id, call.dialect)
            return not await conn.fetchval(PUBLISHED, call.call_id)

    async def mark_published(self, call: CallReceived) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(MARK_PUBLISHED, call.call_id)
