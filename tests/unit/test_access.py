"""Who may do what: roles from where people work, scopes, tokens and password hashes, and the
sign-in's rate limit."""

import asyncio
import threading
import uuid
from collections import Counter
from datetime import datetime

import pytest
from argon2 import PasswordHasher

from shared.access import credentials
from shared.access.credentials import (hash_password, new_token, password_problem, token_hash,
                                       verify_password)
from shared.access.http import Access, Refused, sign_in
from shared.access.principals import (AccessRole, NotAllowed, Principal, Scope, integration,
                                      parse_scopes, person, require)
from shared.events import Department, Role
from shared.settings import AccessSettings


def someone(department: Department, role: Role, admin: bool = False):
    return person(uuid.uuid4(), "a@example.com", "A", department, role, admin=admin)


@pytest.mark.parametrize(("department", "role", "expected"), [
    (Department.CLIENT, Role.AGENT, AccessRole.OPERATOR),
    (Department.COMMERCIAL, Role.AGENT, AccessRole.NEGOTIATOR),
    (Department.COMMERCIAL, Role.HEAD, AccessRole.HEAD),
    (Department.CLIENT, Role.HEAD, AccessRole.HEAD),
])
def test_a_persons_role_follows_from_where_they_work(department, role, expected):
    assert someone(department, role).roles == {expected}


def test_only_the_commercial_head_and_an_admin_work_the_inbox():
    assert someone(Department.COMMERCIAL, Role.HEAD).may(Scope.INBOX_WORK)
    assert someone(Department.COMMERCIAL, Role.HEAD).works_the_inbox
    assert not someone(Department.CLIENT, Role.HEAD).may(Scope.INBOX_WORK)
    assert not someone(Department.COMMERCIAL, Role.AGENT).works_the_inbox
    admin = someone(Department.CLIENT, Role.AGENT, admin=True)
    assert admin.works_the_inbox and admin.roles == {AccessRole.OPERATOR, AccessRole.ADMIN}
    assert admin.may(Scope.AUDIT_READ)


def test_an_operator_keeps_the_client_base_right_but_changes_no_deal_and_reads_no_audit():
    operator = someone(Department.CLIENT, Role.AGENT)
    assert operator.may(Scope.CLIENTS_READ) and operator.may(Scope.CALLS_QUALIFY)
    assert operator.may(Scope.CLIENTS_WRITE)  # create client, not this client
    assert not operator.may(Scope.DEALS_WRITE) and not operator.may(Scope.AUDIT_READ)
    assert not operator.may(Scope.EMPLOYEES_WRITE)


def test_an_integration_has_exactly_its_scopes():
    crm = integration("crm", parse_scopes(["clients:write", "deals:write"]))
    assert crm.scopes == {Scope.CLIENTS_WRITE, Scope.DEALS_WRITE}
    assert not crm.may(Scope.CLIENTS_READ) and not crm.works_the_inbox
    with pytest.raises(ValueError, match="unknown scope 'clients:delete'.*clients:write"):
        parse_scopes(["clients:delete"])


def test_tokens_are_random_and_only_their_hash_is_kept():
    first, second = new_token(), new_token("sbi_")
    assert first.startswith("sb_") and second.startswith("sbi_") and first != second
    assert token_hash(first) == token_hash(f" {first}\n") != first


def test_passwords_are_hashed_with_argon2_and_checked():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong horse battery")
    assert not verify_password(None, "anything at all")  # an account without a password
    assert password_problem("short") and password_problem(" padded password ")
    assert password_problem("long enough password") is None


@pytest.mark.parametrize(("department", "role", "admin", "may"), [
    (Department.CLIENT, Role.AGENT, False, False),
    (Department.COMMERCIAL, Role.AGENT, False, False),
    (Department.CLIENT, Role.HEAD, False, True),
    (Department.COMMERCIAL, Role.HEAD, False, True),
    (Department.CLIENT, Role.AGENT, True, True),
])
def test_only_heads_and_admins_give_a_client_an_owner_or_remove_it(department, role, admin,
                                                                    may):
    someone_ = someone(department, role, admin)
    assert someone_.may(Scope.CLIENTS_WRITE)
    assert someone_.may(Scope.OWNERS_WRITE) is may


def test_an_integrations_clients_write_includes_owners_write_and_its_scopes_stay_as_issued():
    crm = integration("crm", parse_scopes(["clients:write"]))
    assert crm.may(Scope.OWNERS_WRITE) and crm.scopes == {Scope.CLIENTS_WRITE}
    reporting = integration("reports", parse_scopes(["clients:read", "deals:write"]))
    assert not reporting.may(Scope.OWNERS_WRITE) and not reporting.may(Scope.CLIENTS_WRITE)
    assert parse_scopes(["owners:write"]) == {Scope.OWNERS_WRITE}


def test_an_action_without_its_scope_is_not_allowed_and_says_which():
    operator = someone(Department.CLIENT, Role.AGENT)
    with pytest.raises(NotAllowed, match="may not owners:write: heads only") as refused:
        require(operator, Scope.OWNERS_WRITE, "owner_email", "heads only")
    assert refused.value.where == "owner_email" and refused.value.scope is Scope.OWNERS_WRITE
    require(someone(Department.CLIENT, Role.HEAD), Scope.OWNERS_WRITE)


# --- the sign-in's rate limit ----------------------------------------------------------------


class FakeStore:
    """The sign-in's side of `AccessStore`, in memory; each call lets the others run, as a
    round trip to the database does."""

    def __init__(self, account: Principal, password_hash: str) -> None:
        self.rows: Counter[str] = Counter()
        self.account_ = (account, password_hash)
        self.checked: list[str] = []  # the e-mails a password was checked for
        self.sessions = 0

    async def count_attempt(self, keys: list[str], now: datetime, since: datetime
                            ) -> dict[str, int]:
        self.rows.update(keys)
        await asyncio.sleep(0)
        return {key: self.rows[key] for key in keys}

    async def uncount_attempt(self, keys: list[str], now: datetime) -> None:
        self.rows.subtract(keys)

    async def clear_failures(self, key: str) -> None:
        self.rows.pop(key, None)

    async def account(self, email: str) -> tuple[Principal, str] | None:
        await asyncio.sleep(0)
        self.checked.append(email)
        return self.account_ if email == self.account_[0].name else None

    async def audit(self, *_: object) -> None:
        await asyncio.sleep(0)

    async def open_session(self, *_: object) -> None:
        self.sessions += 1


PASSWORD = "correct horse battery"
OLGA = person(uuid.uuid4(), "olga@example.com", "Olga", Department.CLIENT, Role.AGENT)
# A hash carries its own cost: these are checked in a millisecond.
CHEAP = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> str:
    """The hash of PASSWORD, and an unknown e-mail's checked as cheaply."""
    monkeypatch.setattr(credentials, "_DUMMY_HASH", CHEAP.hash("no account"))
    return CHEAP.hash(PASSWORD)


def access(store: FakeStore, per_account: int = 3, per_address: int = 5) -> Access:
    settings = AccessSettings(sign_in_failures_per_account=per_account,
                              sign_in_failures_per_address=per_address)
    return Access(store=store, settings=settings)  # type: ignore[arg-type]


async def attempt(guard: Access, password: str, email: str = OLGA.name,
                  address: str = "10.0.0.1") -> int:
    try:
        await sign_in(guard, email, password, address)
        return 200
    except Refused as refused:
        return refused.status


async def test_parallel_guesses_get_at_most_the_limits_worth_of_password_checks(cheap_hashes: str):
    store = FakeStore(OLGA, cheap_hashes)
    guard = access(store)
    answers = await asyncio.gather(*(attempt(guard, f"guess {n}", address=f"10.0.0.{n}")
                                     for n in range(10)))
    assert len(store.checked) <= 3 and answers.count(401) == len(store.checked)
    assert answers.count(429) == 10 - len(store.checked)


async def test_a_refused_attempt_is_not_counted_and_a_sign_in_takes_its_own_back(cheap_hashes: str):
    store = FakeStore(OLGA, cheap_hashes)
    guard = access(store)
    assert [await attempt(guard, "wrong") for _ in range(4)] == [401, 401, 401, 429]
    assert store.rows["account:olga@example.com"] == 3  # the refused fourth is not a failure
    assert store.rows["address:10.0.0.1"] == 3
    store.rows.clear()
    assert await attempt(guard, PASSWORD) == 200 and store.sessions == 1
    assert +store.rows == Counter()  # a sign-in counts against neither the account nor the address


async def test_an_address_waits_past_its_limit_whatever_the_e_mails(cheap_hashes: str):
    store = FakeStore(OLGA, cheap_hashes)
    guard = access(store, per_account=100, per_address=5)
    wrong = [await attempt(guard, "x", email=f"n{n}@example.com") for n in range(5)]
    assert wrong == [401] * 5
    assert await attempt(guard, PASSWORD) == 429
    assert await attempt(guard, PASSWORD, address="10.0.0.2") == 200


async def test_password_checks_run_off_the_event_loop(cheap_hashes: str,
                                                      monkeypatch: pytest.MonkeyPatch):
    """A service that signs people in also answers look-ups: argon2 must not hold its loop."""
    threads: list[int] = []
    checking = credentials.verify_password

    def recorded(password_hash: str | None, password: str) -> bool:
        threads.append(threading.get_ident())
        return checking(password_hash, password)

    monkeypatch.setattr(credentials, "verify_password", recorded)
    assert await attempt(access(FakeStore(OLGA, cheap_hashes)), PASSWORD) == 200
    assert threads and threading.get_ident() not in threads
