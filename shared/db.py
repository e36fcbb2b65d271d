"""The asyncpg pool and the versioned migrations of the client base.

Migrations are the numbered `shared/migrations/NNNN_name.sql` files, applied in order, each
in its own transaction, and recorded in `schema_migrations`. An advisory lock makes
concurrent upgrades (several replicas starting at once) safe.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.settings import DatabaseSettings
from shared.tls import client_context

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 4242_0001  # pg_advisory_lock key of `db upgrade`
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    return found


async def upgrade(url: str) -> list[str]:
    """Apply every migration not applied yet; returns the names applied."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(f"{migration.version:04d}_{migration.name}")
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        await conn.close()


async def keep_session(conn: asyncpg.Connection) -> None:
    """What a pooled connection is reset with when it goes back to the pool: nothing more
    than asyncpg's own clean-up (an open transaction rolled back, listeners dropped).

    asyncpg's default also sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL;`: one more round trip on every release, which doubled the services' database
    round trips per message. Nothing the services do outlives a transaction on a pooled
    connection: advisory locks are `pg_advisory_xact_lock`, there are no SET, LISTEN or
    WITH HOLD cursors (the session-level migration lock uses its own connection)."""


async def create_pool(settings: DatabaseSettings, timeout: float = 60.0) -> asyncpg.Pool:
    """A pool, waiting for the database to come up (it may start after the service)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await asyncpg.create_pool(
                settings.url, min_size=settings.pool_min, max_size=settings.pool_max,
                reset=keep_session, **ssl_options(settings),
            )
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1)


def ssl_options(settings: DatabaseSettings) -> dict[str, object]:
    """asyncpg's `ssl` argument for the TLS settings; nothing when unset (the URL decides).

    As with libpq, a CA file makes `require` check the certificate (verify-ca);
    verify-full also checks that the certificate names the host.
    """
    mode = settings.ssl_mode
    if mode is None and settings.ssl_ca_file is None and settings.ssl_cert_file is None:
        return {}
    mode = mode or "verify-full"
    if mode in ("disable", "allow", "prefer") or (
            mode == "require" and settings.ssl_ca_file is None
            and settings.ssl_cert_file is None):
        return {"ssl": mode}
    context = client_context("SWITCHBOARD_DATABASE_", settings.ssl_ca_file,
                             settings.ssl_cert_file, settings.ssl_key_file)
    if mode != "verify-full":
        context.check_hostname = False
    if mode == "require" and settings.ssl_ca_file is None:
        context.verify_mode = ssl.CERT_NONE  # a client certificate, but no server check
    return {"ssl": context}
