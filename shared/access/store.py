"""The database side of access: tokens, passwords, sessions, sign-in failures, invitations and
the audit log. Plain SQL; the pool is the service's own."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.access.principals import Principal, Scope, integration, person
from shared.events import Department, Role

_PERSON = """e.employee_id, e.email, e.name, e.department, e.role, e.admin, e.locale"""

TOKEN_PRINCIPAL = f"""
SELECT t.scopes, i.name AS integration, {_PERSON}
FROM api_tokens t
LEFT JOIN employees e ON e.employee_id = t.employee_id AND e.active
LEFT JOIN integrations i ON i.integration_id = t.integration_id AND i.revoked_at IS NULL
WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)
  AND (e.employee_id IS NOT NULL OR i.integration_id IS NOT NULL)
"""

SESSION_PRINCIPAL = f"""
UPDATE sessions s SET last_seen_at = $2
FROM employees e
WHERE s.session_hash = $1 AND e.employee_id = s.employee_id AND e.active
  AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $2 - $3::interval
RETURNING s.csrf_token, s.expires_at, {_PERSON}
"""


INVITATION = """
SELECT i.employee_id, e.email, e.locale, i.expires_at, i.used_at
FROM invitations i JOIN employees e USING (employee_id)
WHERE i.token_hash = $1
"""


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Invitation:
    """A link as the database has it."""

    employee_id: uuid.UUID
    email: str
    locale: str
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class InvitationUsed:
    """A link's one use: whose password it set, and how many of their sessions it ended."""

    employee_id: uuid.UUID
    email: str
    sessions_ended: int


def _person(row: asyncpg.Record) -> Principal:
    return person(row["employee_id"], row["email"], row["name"], Department(row["department"]),
                  Role(row["role"]), admin=row["admin"], locale=row["locale"])


class AccessStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- tokens ---------------------------------------------------------------------------

    async def token_principal(self, token_hash: str, now: datetime) -> Principal | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(TOKEN_PRINCIPAL, token_hash, now)
        if row is None:
            return None
        if row["integration"] is not None:
            return integration(row["integration"], frozenset(Scope(s) for s in row["scopes"] or ()))
        return _person(row)

    # --- sessions -------------------------------------------------------------------------

    async def session(self, session_hash: str, now: datetime, idle: timedelta
                      ) -> Session | None:
        """The session's principal, if it is still valid; its idle clock starts again."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(SESSION_PRINCIPAL, session_hash, now, idle)
        if row is None:
            return None
        return Session(_person(row), row["csrf_token"], row["expires_at"])

    async def open_session(self, session_hash: str, employee_id: uuid.UUID, csrf_token: str,
                           now: datetime, expires_at: datetime, address: str | None) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO sessions (session_hash, employee_id, csrf_token, created_at,
                                         last_seen_at, expires_at, address)
                   VALUES ($1, $2, $3, $4, $4, $5, $6)""",
                session_hash, employee_id, csrf_token, now, expires_at, address)

    async def close_session(self, session_hash: str, now: datetime) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("UPDATE sessions SET revoked_at = $2 WHERE session_hash = $1 "
                               "AND revoked_at IS NULL", session_hash, now)

    async def close_all_sessions(self, employee_id: uuid.UUID, now: datetime) -> int:
        return await end_sessions(self.pool, employee_id, now)

    # --- sign-in --------------------------------------------------------------------------

    async def account(self, email: str) -> tuple[Principal, str | None] | None:
        """The active person with this e-mail and their password hash."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_PERSON}, e.password_hash FROM employees e "
                "WHERE lower(e.email) = lower($1) AND e.active", email.strip())
        return (_person(row), row["password_hash"]) if row else None

    async def count_attempt(self, keys: list[str], now: datetime, since: datetime
                            ) -> dict[str, int]:
        """Records a sign-in attempt under each key as a failure, then counts each key's
        failures since `since`, this one included. The insert commits before the count, so
        of parallel attempts the n-th to commit counts at least n."""
        async with self.pool.acquire() as conn:
            await conn.execute("INSERT INTO sign_in_failures (key, at) "
                               "SELECT unnest($1::text[]), $2", keys, now)
            rows = await conn.fetch(
                "SELECT key, count(*) AS n FROM sign_in_failures WHERE key = ANY($1) AND at > $2 "
                "GROUP BY key", keys, since)
        return {r["key"]: r["n"] for r in rows}

    async def uncount_attempt(self, keys: list[str], now: datetime) -> None:
        """Takes back what `count_attempt(keys, now)` recorded: one row of each key at `now`
        (rows of one key and time are alike, whichever attempt wrote them)."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM sign_in_failures WHERE ctid IN ("
                "SELECT DISTINCT ON (key) ctid FROM sign_in_failures "
                "WHERE key = ANY($1) AND at = $2)", keys, now)

    async def clear_failures(self, key: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM sign_in_failures WHERE key = $1", key)

    # --- invitations ----------------------------------------------------------------------

    async def invitation(self, token_hash: str) -> Invitation | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(INVITATION, token_hash)
        return Invitation(**dict(row)) if row else None

    async def use_invitation(self, token_hash: str, password_hash: str, now: datetime
                             ) -> InvitationUsed | None:
        """Sets the invited person's password once and ends their sessions (an old password
        may be known to someone else), in one transaction; None for a link that is unknown,
        used or expired."""
        async with self.pool.acquire() as conn, conn.transaction():
            employee_id = await conn.fetchval(
                "UPDATE invitations SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL "
                "AND expires_at > $2 RETURNING employee_id", token_hash, now)
            if employee_id is None:
                return None
            email = await conn.fetchval(
                "UPDATE employees SET password_hash = $2 WHERE employee_id = $1 RETURNING email",
                employee_id, password_hash)
            ended = await end_sessions(conn, employee_id, now)
        return InvitationUsed(employee_id, email, ended)

    # --- audit ----------------------------------------------------------------------------

    async def audit(self, principal: Principal | None, action: str, subject: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        await audit(self.pool, principal, action, subject, detail)


async def end_sessions(db: asyncpg.Pool | asyncpg.Connection, employee_id: uuid.UUID,
                       now: datetime) -> int:
    """Every open session of the person ends ("sign out everywhere", a new password); how
    many did."""
    status = await db.execute("UPDATE sessions SET revoked_at = $2 WHERE employee_id = $1 "
                              "AND revoked_at IS NULL", employee_id, now)
    return int(status.split()[-1])


async def audit(db: asyncpg.Pool | asyncpg.Connection, principal: Principal | None, action: str,
                subject: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """One line of the audit log: who (None: the system itself) did what to what."""
    kind = principal.kind.value if principal else "system"
    name = principal.name if principal else "switchboard"
    await db.execute(
        "INSERT INTO audit_log (principal_kind, principal, action, subject, detail) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        kind, name, action, subject, json.dumps(detail or {}, default=str))

