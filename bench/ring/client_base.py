"""What the ring-time benchmark asks about: a client base of many clients, seeded with
set-based inserts (generate_series) in a block of numbers no earlier run used, and for each
caller the dial string a decision gives.

Client i of a base has the number `<prefix><i>`; three in ten are owned (i % 10 < 3) by one
of the negotiators, who have extensions; the segment cycles with i // 10. So which caller
is owned, and what their call should dial, follows from i: nothing is read back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import yaml

from bench.pipeline.client_base import GENERAL_LINE

NEGOTIATORS = 100  # commercial agents who own the owned clients, each with an extension
OWNED_PER_TEN = 3  # clients i with i % 10 < 3 are owned: 30%
SEGMENTS = ("individual", "small_business", "corporate", "large_corporate")
CONTACTS_PER_CLIENT = 5  # earlier calls per client, what the look-up reads with the client
OPEN_LEADS_PER_OWNED = 2  # open leads per owned client
NUMBER_PREFIX = "+7919"  # then the block, then the client's index: 7 digits in all
EXTENSION_PREFIX = "5"  # then the block, then the negotiator's index (3 digits)
UNKNOWN_PREFIX = "+7916"  # callers not in the base: outside every seeded block


@dataclass(frozen=True)
class Desks:
    """What a decision dials for a caller without an owner, from the routing rules."""

    extensions: dict[str, str]  # desk (client_department, ...) -> its extension
    ring: dict[str, str]  # segment -> the desk its unowned clients ring

    @classmethod
    def from_rules(cls, path: Path) -> Desks:
        rules = yaml.safe_load(path.read_text())
        extensions = {name: str(desk["extension"])
                      for name, desk in (rules.get("desks") or {}).items()
                      if desk.get("extension")}
        ring = {segment: (rules.get("segments") or {}).get(segment, {}).get(
                    "ring", "client_department") for segment in SEGMENTS}
        return cls(extensions, ring)

    def for_unknown(self) -> str:
        return self.extensions["client_department"]

    def for_segment(self, segment: str) -> str:
        return self.extensions[self.ring[segment]]


@dataclass(frozen=True)
class RingBase:
    """A seeded client base: who calls from which number, and what their call dials."""

    block: str
    clients: int
    desks: Desks

    @property
    def index_digits(self) -> int:
        return 7 - len(self.block)

    def phone(self, i: int) -> str:
        return f"{NUMBER_PREFIX}{self.block}{i:0{self.index_digits}d}"

    def owned(self, i: int) -> bool:
        return i % 10 < OWNED_PER_TEN

    def segment(self, i: int) -> str:
        return SEGMENTS[i // 10 % len(SEGMENTS)]

    def owner(self, i: int) -> int:
        return i // 10 % NEGOTIATORS

    def extension(self, negotiator: int) -> str:
        return f"{EXTENSION_PREFIX}{self.block}{negotiator:03d}"

    def expected(self, i: int) -> str:
        """The extension a decision dials for client i's call: the owner's, else the desk of
        the client's segment."""
        if self.owned(i):
            return self.extension(self.owner(i))
        return self.desks.for_segment(self.segment(i))


def block_digits(clients: int) -> int:
    """Digits of the block: what the 7 digits after the prefix leave beside the index."""
    digits = 7 - max(3, len(str(max(clients - 1, 0))))
    if digits < 1:
        raise SystemExit(f"--clients {clients}: at most 1,000,000 clients")
    return digits


async def seed_ring_base(url: str, clients: int, tag: str, desks: Desks,
                         rng: random.Random) -> RingBase:
    """`clients` clients (30% owned by NEGOTIATORS negotiators with extensions), each with
    CONTACTS_PER_CLIENT earlier contacts and, when owned, OPEN_LEADS_PER_OWNED open leads,
    in one transaction of set-based inserts. Fresh ids and numbers every run."""
    conn = await asyncpg.connect(url)
    try:
        digits = block_digits(clients)
        for _ in range(10 ** digits):  # a block of numbers and extensions no earlier run used
            block = f"{rng.randrange(10 ** digits):0{digits}d}"
            taken = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM client_phones WHERE phone LIKE $1) "
                "OR EXISTS (SELECT 1 FROM employees WHERE extension LIKE $2)",
                f"{NUMBER_PREFIX}{block}%", f"{EXTENSION_PREFIX}{block}%")
            if not taken:
                break
        else:
            raise SystemExit("every block of numbers is used by earlier runs: use a fresh "
                             "database (remove the benchmark's folder)")
        base = RingBase(block, clients, desks)
        width = base.index_digits
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE ring_employees ON COMMIT DROP AS "
                "SELECT n, gen_random_uuid() AS employee_id FROM generate_series(0, $1 - 1) n",
                NEGOTIATORS)
            await conn.execute(
                """INSERT INTO employees (employee_id, email, name, department, role, extension,
                                          capacity)
                   SELECT employee_id, 'ring-' || $1 || '-' || n || '@bench.example',
                          'Negotiator ' || $1 || '-' || n, 'commercial', 'agent',
                          $2 || lpad(n::text, 3, '0'), 1000000
                   FROM ring_employees""",
                tag, f"{EXTENSION_PREFIX}{block}")
            await conn.execute(
                "CREATE TEMP TABLE ring_clients ON COMMIT DROP AS "
                "SELECT i, gen_random_uuid() AS client_id, $2 || lpad(i::text, $3, '0') AS phone "
                "FROM generate_series(0, $1 - 1) i",
                clients, f"{NUMBER_PREFIX}{block}", width)
            await conn.execute(
                """INSERT INTO clients (client_id, external_id, name, segment)
                   SELECT client_id, 'ring-' || $1 || '-' || i, 'Ring client ' || $1 || ' ' || i,
                          ($2::text[])[(i / 10) % cardinality($2::text[]) + 1]
                   FROM ring_clients""",
                tag, list(SEGMENTS))
            await conn.execute(
                "INSERT INTO client_phones (phone, client_id) SELECT phone, client_id "
                "FROM ring_clients")
            await conn.execute(
                """INSERT INTO ownership (client_id, employee_id, since, last_activity_at)
                   SELECT c.client_id, e.employee_id, now() - interval '20 days',
                          now() - interval '1 day'
                   FROM ring_clients c JOIN ring_employees e ON e.n = (c.i / 10) % $1
                   WHERE c.i % 10 < $2""",
                NEGOTIATORS, OWNED_PER_TEN)
            await conn.execute(
                """INSERT INTO contacts (call_id, client_id, employee_id, caller, dialed,
                                         occurred_at)
                   SELECT 'ring:' || $1 || '-hist-' || c.i || '-' || k, c.client_id, NULL,
                          c.phone, $2, now() - interval '10 days' - k * interval '37 minutes'
                   FROM ring_clients c, generate_series(0, $3 - 1) k""",
                tag, GENERAL_LINE, CONTACTS_PER_CLIENT)
            # published: the assignment's relay must not announce them again
            await conn.execute(
                """INSERT INTO leads (lead_id, call_id, client_id, employee_id, department,
                                      strategy, status, created_at, published_at)
                   SELECT gen_random_uuid(), 'ring:' || $1 || '-lead-' || c.i || '-' || k,
                          c.client_id, e.employee_id, 'commercial', 'owner', 'open',
                          now() - interval '10 days' - k * interval '41 minutes',
                          now() - interval '10 days' - k * interval '41 minutes'
                   FROM ring_clients c JOIN ring_employees e ON e.n = (c.i / 10) % $2,
                        generate_series(0, $3 - 1) k
                   WHERE c.i % 10 < $4""",
                tag, NEGOTIATORS, OPEN_LEADS_PER_OWNED, OWNED_PER_TEN)
        # Vacuumed as well as analysed: else autovacuum works through the new rows during
        # the first measured parts (seconds of database CPU on a few hundred requests).
        await conn.execute("VACUUM (ANALYZE) employees, clients, client_phones, ownership, "
                           "contacts, leads")
    finally:
        await conn.close()
    return base
