"""The intake's memory of accepted calls. The only module of the intake that touches asyncpg.

Every operation works on many calls in one statement: a batch of `pbx.events` at once, and
the concurrent webhooks' calls grouped (`shared.grouping.Grouped`: while one round trip is
in flight, the requests that arrive wait for the next one, together)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.intake.service import Claim
from shared.events import CallReceived
from shared.grouping import Grouped

# Whoever inserts the row publishes the call. Another replica holding a second event of the
# same call (Newchannel and DialBegin on two partitions) waits for it; if the first replica
# died before publishing, the claim goes stale after LEASE and is taken over.
LEASE_SECONDS = 30

CLAIM = """
INSERT INTO intake_calls (call_id, event_id, dialect)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[])
ON CONFLICT (call_id) DO NOTHING
RETURNING call_id
"""
# Of the calls another holds: published already, or stale and taken over now.
HELD = """
WITH taken AS (
    UPDATE intake_calls SET received_at = now()
    WHERE call_id = ANY($1::text[]) AND published_at IS NULL
      AND received_at < now() - make_interval(secs => $2)
    RETURNING call_id
)
SELECT call_id, published_at IS NOT NULL AS published,
       call_id IN (SELECT call_id FROM taken) AS taken
FROM intake_calls WHERE call_id = ANY($1::text[])
"""
MARK_PUBLISHED = "UPDATE intake_calls SET published_at = now() WHERE call_id = ANY($1::text[])"


class AcceptedCalls:
    """Implements `service.AcceptedCallsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._claims = Grouped(self.claim_all)
        self._marks = Grouped(self._mark_all)

    async def claim(self, call: CallReceived) -> Claim:
        return await self._claims(call)

    async def mark_published(self, call: CallReceived) -> None:
        await self._marks(call)

    async def claim_all(self, calls: Sequence[CallReceived]) -> list[Claim]:
        """Each call's claim, in order. A call named twice is claimed by its first mention;
        the others find it busy (it is being published)."""
        first: dict[str, CallReceived] = {}
        for call in calls:
            first.setdefault(call.call_id, call)
        published: set[str] = set()
        async with self.pool.acquire() as conn:
            ours = {row["call_id"] for row in await conn.fetch(
                CLAIM, list(first), [c.event_id for c in first.values()],
                [c.dialect for c in first.values()])}
            if held := [call_id for call_id in first if call_id not in ours]:
                for row in await conn.fetch(HELD, held, float(LEASE_SECONDS)):
                    if row["taken"]:
                        ours.add(row["call_id"])
                    elif row["published"]:
                        published.add(row["call_id"])
        claimed: list[Claim] = []
        for call in calls:
            if call.call_id in ours:
                ours.discard(call.call_id)
                claimed.append(Claim.PUBLISH)
            elif call.call_id in published:
                claimed.append(Claim.DONE)
            else:
                claimed.append(Claim.BUSY)
        return claimed

    async def mark_all_published(self, calls: Sequence[CallReceived]) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(MARK_PUBLISHED, sorted({c.call_id for c in calls}))

    async def _mark_all(self, calls: Sequence[CallReceived]) -> list[None]:
        await self.mark_all_published(calls)
        return [None] * len(calls)
