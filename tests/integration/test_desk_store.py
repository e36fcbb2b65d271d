"""The desk's table of calls on the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.desk.policy import DeskCall
from services.desk.repository import DeskStore
from tests.conftest import Endpoints
from tests.support import random_id

pytestmark = pytest.mark.integration


async def test_open_calls_leave_out_the_calls_that_ended_unanswered(infra: Endpoints,
                                                                    services) -> None:
    # Calls later than any other test's, so this test's are the newest in the shared table
    at = datetime.now(UTC) + timedelta(days=1, seconds=hash(random_id()) % 3600)
    talked = DeskCall(f"it-desk:{random_id()}", at, answered_at=at + timedelta(seconds=2),
                      hung_up_at=at + timedelta(seconds=60))
    ringing = DeskCall(f"it-desk:{random_id()}", at + timedelta(seconds=1))
    missed = [DeskCall(f"it-desk:{random_id()}", at + timedelta(seconds=2 + n),
                       hung_up_at=at + timedelta(seconds=20)) for n in range(3)]
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=2)
    try:
        store = DeskStore(pool)
        for call in (talked, ringing, *missed):
            await store.record(call)
        # The three newest ended unanswered: they take none of the two places
        shown = await store.open_calls(at - timedelta(seconds=1), limit=2)
    finally:
        await pool.close()
    assert [c.call_id for c in shown] == [ringing.call_id, talked.call_id]
