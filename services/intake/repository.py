"""The intake's memory of accepted calls. The only module of the intake that touches asyncpg."""

from __future__ import annotations

import asyncpg

from services.intake.service import Claim
from shared.events import CallReceived

# Whoever inserts the row publishes the call. Another replica holding a second event of the
# same call (Newchannel and DialBegin on two partitions) waits for it; if the first replica
# died before publishing, the claim goes stale after LEASE and is taken over.
LEASE_SECONDS = 30

CLAIM = """
INSERT INTO intake_calls (call_id, event_id, dialect) VALUES ($1, $2, $3)
ON CONFLICT (call_id) DO NOTHING
RETURNING true
"""
TAKE_OVER = """
UPDATE intake_calls SET received_at = now()
WHERE call_id = $1 AND published_at IS NULL
  AND received_at < now() - make_interval(secs => $2)
RETURNING true
"""
PUBLISHED = "SELECT published_at IS NOT NULL FROM intake_calls WHERE call_id = $1"
MARK_PUBLISHED = "UPDATE intake_calls SET published_at = now() WHERE call_id = $1"


class AcceptedCalls:
    """Implements `service.AcceptedCallsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, call: CallReceived) -> Claim:
        async with self.pool.acquire() as conn:
            if await conn.fetchval(CLAIM, call.call_id, call.event_id, call.dialect):
                return Claim.PUBLISH
            if await conn.fetchval(PUBLISHED, call.call_id):
                return Claim.DONE
            if await conn.fetchval(TAKE_OVER, call.call_id, float(LEASE_SECONDS)):
                return Claim.PUBLISH
            return Claim.BUSY

    async def mark_published(self, call: CallReceived) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(MARK_PUBLISHED, call.call_id)
