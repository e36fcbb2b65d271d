"""The simulated browsers' people: operators of the client department, new ones each run
(one set-based insert), each with a desk session that the access store opens as the desk's
sign-in does (`shared.access.http.sign_in`, without the password's argon2 check: a session
token, its hash stored, a CSRF token), so that each browser sends its session cookie as a
browser does."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from bench.desk.expected import Viewer
from shared.access.credentials import SESSION_TOKEN, new_token, token_hash
from shared.access.principals import person_roles
from shared.access.store import AccessStore
from shared.events import Department, Role, utcnow
from shared.settings import AccessSettings

# Every tenth operator reads the desk in English, the others in Russian (the default): a
# card is rendered once per language for all the screens that show it, as at a real desk.
ENGLISH_EVERY = 10
ADDRESS = "127.0.0.1"  # where the sessions were opened from, as the sign-in records it


@dataclass(frozen=True)
class Operator:
    employee_id: uuid.UUID
    email: str
    locale: str
    session_cookie: str  # the value of the session cookie

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.employee_id, person_roles(Department.CLIENT, Role.AGENT, False))


async def sign_in_operators(url: str, count: int, tag: str) -> list[Operator]:
    """`count` new client department agents (operators), each signed in once."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """INSERT INTO employees (employee_id, email, name, department, role, locale)
               SELECT gen_random_uuid(), 'desk-bench-' || $1 || '-' || n || '@bench.example',
                      'Operator ' || $1 || '-' || n, $3, $4,
                      CASE WHEN n % $5 = $5 - 1 THEN 'en' ELSE 'ru' END
               FROM generate_series(0, $2 - 1) n
               RETURNING employee_id, email, locale""",
            tag, count, Department.CLIENT.value, Role.AGENT.value, ENGLISH_EVERY)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        store, now = AccessStore(pool), utcnow()
        expires_at = now + timedelta(hours=AccessSettings().session_max_hours)
        operators = []
        for row in sorted(rows, key=lambda r: r["email"]):
            cookie = new_token(SESSION_TOKEN)
            await store.open_session(token_hash(cookie), row["employee_id"],
                                     secrets.token_urlsafe(24), now, expires_at, ADDRESS)
            operators.append(Operator(row["employee_id"], row["email"], row["locale"], cookie))
    finally:
        await pool.close()
    return operators
