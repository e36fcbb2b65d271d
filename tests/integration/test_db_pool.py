"""The services' connection pool: no reset round trip on release, and still nothing of one
message's transaction left for the next."""

from __future__ import annotations

from shared.db import create_pool
from shared.settings import DatabaseSettings
from tests.conftest import Endpoints


async def test_a_released_connection_is_clean_without_a_reset_query(infra: Endpoints):
    pool = await create_pool(DatabaseSettings(url=infra.database_url, pool_min=1, pool_max=1))
    try:
        async with pool.acquire() as conn:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("BEGIN")  # a transaction a crashed handler left open
            await conn.execute("SELECT pg_advisory_xact_lock(4242)")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == backend  # same session
            assert not conn.is_in_transaction()
            # ... whose transaction-scoped lock went with the rollback
            assert await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1",
                backend) == 0
            # ... and no reset query was sent: a session setting (the services make none)
            # would have been undone by its RESET ALL
            await conn.execute("SET application_name = 'switchboard-pool-test'")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") == "switchboard-pool-test"
    finally:
        await pool.close()
