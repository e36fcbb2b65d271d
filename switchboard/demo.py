"""The demo: a small company's client base (both departments, a head of sales, negotiators with
a record of won and lost deals, clients already owned), its people's sign-ins, and the story
that `make run` plays on it (demo_story.py).

Every demo person signs in to the desk with a password derived from a secret kept in the dev
stack's folder (`demo.secret`, readable by its owner only): the same passwords on every run of
one folder, printed by `dev up --demo` and stored nowhere else (the database holds their
argon2id hashes). The story acts through the same APIs as people do, with a bearer token per
person issued at each start (the earlier ones revoked)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import yaml
from rich.markup import escape

from shared.access.credentials import (INTEGRATION_TOKEN, PERSON_TOKEN, hash_password,
                                       new_token, token_hash, verify_password)
from shared.access.principals import Scope
from shared.chances import UNKNOWN
from shared.events import Department, Role, Segment, derive_event_id, stable_id
from shared.settings import RouterSettings
from switchboard.access_store import AccessCommandStore
from switchboard.infra import REPO_ROOT

GENERAL_LINE = "+74951000000"
DEMO_DOMAIN = "demo.example"
CRM_INTEGRATION = "demo-crm"  # reports the outcomes of leads whose assignee may not (operators)
TOKEN_DAYS = 7

# The demo's settings of the services, unless the environment sets them: a head of sales who
# has a minute to keep or pass a lead (not ten), large deals that reach the inbox even while
# few come in (the head would keep every one of them otherwise), both departments on shift
# at any hour of the day (the demo plays a working day whenever it runs).
INBOX_DEADLINE_SECONDS = 60


def demo_id(kind: str, key: str) -> uuid.UUID:
    """The id of a demo employee, client or lead: the same on every run, so a second run
    finds the rows of the first."""
    return stable_id("demo", kind, key)


def demo_event_id(kind: str, key: str) -> uuid.UUID:
    """The id of an event the demo records (a history lead's outcome)."""
    return derive_event_id("demo", kind, key)


# --- the people and the clients -------------------------------------------------------------


@dataclass(frozen=True)
class DemoEmployee:
    email: str
    name: str
    department: Department
    role: Role
    extension: str
    direct_number: str
    title: str  # what the printed sign-ins call them


HEAD_OF_SALES = f"head@{DEMO_DOMAIN}"
NEGOTIATOR = f"ivanova@{DEMO_DOMAIN}"  # the strongest on large deals; owns Romashka and Gazstroy
PETROV, VOLKOV = f"petrov@{DEMO_DOMAIN}", f"volkov@{DEMO_DOMAIN}"
CLIENT_HEAD = f"smirnova@{DEMO_DOMAIN}"
OPERATORS = (f"kuznetsov@{DEMO_DOMAIN}", f"popova@{DEMO_DOMAIN}")

EMPLOYEES = (
    DemoEmployee(HEAD_OF_SALES, "Olga Sokolova", Department.COMMERCIAL, Role.HEAD, "100",
                 "+74951000100", "head of sales"),
    DemoEmployee(NEGOTIATOR, "Anna Ivanova", Department.COMMERCIAL, Role.AGENT, "101",
                 "+74951000101", "negotiator"),
    DemoEmployee(PETROV, "Pavel Petrov", Department.COMMERCIAL, Role.AGENT,
                 "102", "+74951000102", "negotiator"),
    DemoEmployee(VOLKOV, "Dmitry Volkov", Department.COMMERCIAL, Role.AGENT,
                 "103", "+74951000103", "negotiator"),
    DemoEmployee(CLIENT_HEAD, "Elena Smirnova", Department.CLIENT, Role.HEAD,
                 "200", "+74951000200", "head of the client department"),
    DemoEmployee(OPERATORS[0], "Ivan Kuznetsov", Department.CLIENT, Role.AGENT, "201",
                 "+74951000201", "operator"),
    DemoEmployee(OPERATORS[1], "Maria Popova", Department.CLIENT, Role.AGENT, "202",
                 "+74951000202", "operator"),
)
# Room enough that the story's leads, and those an interrupted run left open, never fill anyone.
CAPACITY = 30


@dataclass(frozen=True)
class DemoClient:
    external_id: str
    name: str
    segment: Segment
    phones: tuple[str, ...]
    owner: str | None  # e-mail


ROMASHKA, GAZSTROY = "C-001", "C-003"  # the story's owned clients, by external id
CLIENTS = (
    DemoClient(ROMASHKA, "Romashka LLC", Segment.CORPORATE, ("+79161110001", "+74953330001"),
               NEGOTIATOR),
    DemoClient("C-002", "Vasily Orlov", Segment.INDIVIDUAL, ("+79161110002",), OPERATORS[0]),
    DemoClient(GAZSTROY, "Gazstroy JSC", Segment.LARGE_CORPORATE, ("+74957770003",), NEGOTIATOR),
    DemoClient("C-004", "Bakery Lyudmila", Segment.SMALL_BUSINESS, ("+79161110004",), None),
    DemoClient("C-005", "Nord Logistics", Segment.LARGE_CORPORATE, ("+74958880005",), None),
    DemoClient("C-006", "Irina Belova", Segment.INDIVIDUAL, ("+79161110006",), OPERATORS[1]),
)

# The commercial department's closed deals of the last three months, per person and kind of
# lead (segment, size class; UNKNOWN: a caller the base did not know): what the
# assignment's strength estimate learns from, so the strongest negotiator is not anyone.
HISTORY = (
    (HEAD_OF_SALES, "large_corporate", "large", 10, 2),
    (HEAD_OF_SALES, UNKNOWN, "large", 6, 1),
    (NEGOTIATOR, UNKNOWN, "large", 12, 3),
    (NEGOTIATOR, "large_corporate", "large", 9, 3),
    (NEGOTIATOR, "corporate", "medium", 6, 2),
    (PETROV, UNKNOWN, "large", 4, 8),
    (PETROV, "large_corporate", "large", 5, 5),
    (PETROV, "corporate", "medium", 7, 3),
    (VOLKOV, UNKNOWN, "large", 3, 3),
    (VOLKOV, "large_corporate", "large", 2, 4),
)
HISTORY_CLIENTS = ("Stroymontazh LLC", "Volga Trading", "Severstal Service", "Alfa Pack",
                   "Ural Logistics", "Metropolis Build", "TechnoSnab", "Baltic Foods")
# The chance with which each person's deals of the story are won (outcomes coming back).
WIN_RATE = {HEAD_OF_SALES: 0.8, NEGOTIATOR: 0.75, PETROV: 0.4, VOLKOV: 0.5}
WIN_RATE_DEFAULT = 0.6


# --- the cast the story plays with -----------------------------------------------------------


@dataclass(frozen=True)
class Person:
    employee_id: uuid.UUID
    email: str
    name: str
    department: Department
    role: Role
    title: str
    extension: str
    direct_number: str
    password: str
    token: str = ""

    @property
    def closes_deals(self) -> bool:
        """Negotiators and heads record their leads' outcomes themselves (deals:write);
        an operator's come from the CRM."""
        return self.department is Department.COMMERCIAL or self.role is Role.HEAD


@dataclass(frozen=True)
class Client:
    client_id: uuid.UUID
    external_id: str
    name: str
    segment: Segment
    phones: tuple[str, ...]
    owner: str | None


@dataclass(frozen=True)
class Cast:
    """The demo's people (by e-mail) and clients (by external id), with their tokens."""

    people: dict[str, Person]
    clients: dict[str, Client]
    crm_token: str = ""
    by_id: dict[uuid.UUID, Person] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {p.employee_id: p for p in self.people.values()})

    def name_of(self, employee_id: uuid.UUID | None) -> str:
        person = self.by_id.get(employee_id) if employee_id else None
        return person.name if person else "someone outside the demo"

    def names_of(self, employee_ids: list[uuid.UUID]) -> str:
        """The demo people's names; how many others (a shared database has more heads)."""
        known = [self.by_id[e].name for e in employee_ids if e in self.by_id]
        others = len(employee_ids) - len(known)
        return ", ".join(known + ([f"{others} more"] if others else [])) or "nobody"

    def __getitem__(self, email: str) -> Person:
        return self.people[email]


# --- the services' settings for the demo -----------------------------------------------------


def demo_rules_file(root: Path, source: Path | None = None) -> Path | None:
    """The routing rules in force (deploy/rules.yaml) with both departments on shift around the
    clock, written to `root/demo-rules.yaml`; None when the rules file is not found."""
    if source is None:
        source = RouterSettings.model_fields["rules_file"].default
        source = source if source.exists() else REPO_ROOT / source
    if not source.exists():
        return None
    rules = yaml.safe_load(source.read_text(encoding="utf-8"))
    for department in (rules.get("departments") or {}).values():
        department["hours"] = {"mon-sun": "00:00-24:00"}
        department.pop("closed", None)
    target = root / "demo-rules.yaml"
    target.write_text(
        f"# {source} for `switchboard dev up --demo`: both departments on shift at any hour.\n"
        + yaml.safe_dump(rules, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def demo_service_env(root: Path, environ: dict[str, str] | os._Environ[str] = os.environ
                     ) -> dict[str, str]:
    """The services' settings of the demo; a variable the environment sets keeps its value."""
    settings = {
        "SWITCHBOARD_ASSIGNMENT_INBOX_DEADLINE_SECONDS": str(INBOX_DEADLINE_SECONDS),
        "SWITCHBOARD_ASSIGNMENT_LOW_VOLUME_PER_HOUR": "0",
        "SWITCHBOARD_ASSIGNMENT_HEAD_EMAIL": HEAD_OF_SALES,
    }
    rules = demo_rules_file(root)
    if rules is not None:
        settings["SWITCHBOARD_ROUTER_RULES_FILE"] = str(rules)
    return {key: value for key, value in settings.items() if key not in environ}


# --- passwords --------------------------------------------------------------------------------


def demo_secret(root: Path) -> str:
    """The secret of this folder's demo passwords, made on the first run."""
    path = root / "demo.secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def demo_password(secret: str, email: str) -> str:
    digest = hmac.new(secret.encode(), email.lower().encode(), hashlib.sha256).digest()
    return "demo-" + base64.b32encode(digest).decode().lower()[:12]


# --- loading the base -------------------------------------------------------------------------

UPSERT_EMPLOYEE = """
INSERT INTO employees (employee_id, email, name, department, role, extension, direct_number,
                       capacity)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (email) DO UPDATE SET name = excluded.name, department = excluded.department,
    role = excluded.role, extension = excluded.extension,
    direct_number = excluded.direct_number, capacity = excluded.capacity,
    active = true, on_leave = false
RETURNING employee_id, password_hash
"""

UPSERT_CLIENT = """
INSERT INTO clients (client_id, external_id, name, segment) VALUES ($1, $2, $3, $4)
ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, segment = excluded.segment
RETURNING client_id
"""

# The demo's owner again, whoever a correction at the desk made the owner since; `since`
# stays while the owner does.
UPSERT_OWNER = """
INSERT INTO ownership (client_id, employee_id, since, last_activity_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (client_id) DO UPDATE SET employee_id = excluded.employee_id,
    since = CASE WHEN ownership.employee_id = excluded.employee_id THEN ownership.since
                 ELSE excluded.since END,
    last_activity_at = greatest(ownership.last_activity_at, excluded.last_activity_at)
"""

HISTORY_LEAD = """
INSERT INTO leads (lead_id, call_id, employee_id, department, strategy, status, value, currency,
                   created_at, published_at, destination, stage, segment, size_class,
                   client_name, decided_at)
VALUES ($1, $2, $3, 'commercial', $4, $5, $6, 'RUB', $7, $8, 'commercial_department',
        'qualified', $9, $10, $11, $8)
ON CONFLICT (lead_id) DO NOTHING
"""

# The outcome and the record it counts in, together and once (as the assignment counts them).
HISTORY_OUTCOME = """
INSERT INTO lead_outcomes (lead_id, event_id, employee_id, segment, size_class, outcome,
                           final_value, currency, closed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'RUB', $8)
ON CONFLICT (lead_id) DO NOTHING
RETURNING lead_id
"""

HISTORY_RECORD = """
INSERT INTO negotiator_records (employee_id, segment, size_class, won, lost)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (employee_id, segment, size_class) DO UPDATE
    SET won = negotiator_records.won + excluded.won, lost = negotiator_records.lost + excluded.lost
"""


async def load_demo_base(url: str, now: datetime, secret: str) -> Cast:
    """Upserts the demo employees (active, with their passwords), clients, numbers, owners and
    the commercial department's record; returns the cast (without tokens)."""
    conn = await asyncpg.connect(url)
    try:
        people: dict[str, Person] = {}
        async with conn.transaction():
            for e in EMPLOYEES:
                row = await conn.fetchrow(
                    UPSERT_EMPLOYEE, demo_id("employee", e.email), e.email, e.name,
                    e.department.value, e.role.value, e.extension, e.direct_number, CAPACITY)
                people[e.email] = Person(row["employee_id"], e.email, e.name, e.department,
                                         e.role, e.title, e.extension, e.direct_number,
                                         demo_password(secret, e.email))
            clients = {}
            for c in CLIENTS:
                client_id = await conn.fetchval(UPSERT_CLIENT, demo_id("client", c.external_id),
                                                c.external_id, c.name, c.segment.value)
                for phone in c.phones:
                    await conn.execute(
                        """INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)
                           ON CONFLICT (phone) DO UPDATE SET client_id = excluded.client_id""",
                        phone, client_id)
                if c.owner:
                    await conn.execute(UPSERT_OWNER, client_id, people[c.owner].employee_id,
                                       now - timedelta(days=40), now - timedelta(days=2))
                else:
                    await conn.execute("DELETE FROM ownership WHERE client_id = $1", client_id)
                clients[c.external_id] = Client(client_id, c.external_id, c.name, c.segment,
                                                c.phones, c.owner)
            await _load_history(conn, people, now)
        await _set_passwords(conn, people.values())
    finally:
        await conn.close()
    return Cast(people, clients)


async def _load_history(conn: asyncpg.Connection, people: dict[str, Person], now: datetime
                        ) -> None:
    n = 0
    for email, segment, size, won, lost in HISTORY:
        person = people[email]
        for i, outcome in enumerate(["won"] * won + ["lost"] * lost):
            n += 1
            key = f"{email}:{segment}:{size}:{i}"
            lead_id = demo_id("history", key)
            value = Decimal((3_000_000 + (n * 730_000) % 9_000_000) if size == "large"
                            else (400_000 + (n * 170_000) % 2_000_000))
            created = now - timedelta(days=5 + (n * 7) % 85, hours=n % 9)
            decided = created + timedelta(minutes=3 + n % 40)
            await conn.execute(
                HISTORY_LEAD, lead_id, f"demo-history:{lead_id.hex[:16]}", person.employee_id,
                "head_kept" if person.role is Role.HEAD else "strongest_available", outcome,
                value, created, decided, None if segment == UNKNOWN else segment, size,
                HISTORY_CLIENTS[n % len(HISTORY_CLIENTS)])
            counted = await conn.fetchval(
                HISTORY_OUTCOME, lead_id, demo_event_id("history-outcome", key), person.employee_id,
                segment, size, outcome, value if outcome == "won" else None,
                decided + timedelta(days=2 + n % 12))
            if counted:
                await conn.execute(HISTORY_RECORD, person.employee_id, segment, size,
                                   int(outcome == "won"), int(outcome == "lost"))


async def _set_passwords(conn: asyncpg.Connection, people) -> None:
    """Each demo person's password; one already set stays (their sessions go on)."""
    store = AccessCommandStore(conn)
    for person in people:
        current = await conn.fetchval("SELECT password_hash FROM employees WHERE email = $1",
                                      person.email)
        if not await asyncio.to_thread(verify_password, current, person.password):
            someone = await store.person(person.email)
            assert someone is not None
            await store.set_password(someone, await asyncio.to_thread(hash_password,
                                                                      person.password))


async def issue_demo_tokens(url: str, cast: Cast, now: datetime) -> Cast:
    """A bearer token per demo person and one for the demo CRM (deals:write), valid for a
    week; their earlier ones are revoked."""
    expires_at = now + timedelta(days=TOKEN_DAYS)
    conn = await asyncpg.connect(url)
    try:
        store = AccessCommandStore(conn)
        people = {}
        for email, person in cast.people.items():
            token = new_token(PERSON_TOKEN)
            await store.issue_person_token(email, token_hash(token), revoke=True,
                                           expires_at=expires_at)
            people[email] = replace(person, token=token)
        crm = new_token(INTEGRATION_TOKEN)
        await store.issue_integration_token(CRM_INTEGRATION, token_hash(crm),
                                            frozenset({Scope.DEALS_WRITE}), revoke=True,
                                            expires_at=expires_at)
    finally:
        await conn.close()
    return Cast(people, cast.clients, crm)


async def open_leads_of(url: str, cast: Cast) -> list[uuid.UUID]:
    """The open leads of the demo's people: what an interrupted run left open."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT lead_id FROM leads WHERE status = 'open' AND employee_id = ANY($1::uuid[]) "
            "ORDER BY created_at", list(cast.by_id))
    finally:
        await conn.close()
    return [r["lead_id"] for r in rows]


# --- what dev up --demo prints ------------------------------------------------------------------

# Who to sign in as to watch the story, first; what each one's screens show.
SIGN_IN_ORDER = (OPERATORS[0], HEAD_OF_SALES, NEGOTIATOR, OPERATORS[1], PETROV, VOLKOV,
                 CLIENT_HEAD)
WHAT_THEY_SEE = {
    OPERATORS[0]: "/operator: the desk's ringing calls, the qualification form",
    HEAD_OF_SALES: "/inbox: large deals, the deadline's countdown, keep / assign; /dashboard",
    NEGOTIATOR: "/leads: her leads, outcomes, her clients' shopping-around alerts, her calls",
    OPERATORS[1]: "/operator",
    PETROV: "/leads",
    VOLKOV: "/leads",
    CLIENT_HEAD: "/operator",
}


def sign_in_lines(cast: Cast, desk_url: str) -> list[str]:
    """What dev up prints of the desk and its sign-ins: one line each, whatever the width."""
    width = max(len(f"{cast[e].title}: {cast[e].name}") for e in SIGN_IN_ORDER)
    mail = max(len(e) for e in SIGN_IN_ORDER)
    lines = [f"[bold]the desk: {desk_url}[/] — open it and sign in as (demo passwords, of this "
             "folder only):"]
    for email in SIGN_IN_ORDER:
        person = cast[email]
        who = f"{person.title}: {person.name}"
        lines.append(f"  {who:<{width}}  {email:<{mail}}  [bold]{person.password}[/]  "
                     f"{escape(WHAT_THEY_SEE[email])}")
    return lines
