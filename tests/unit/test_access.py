"""Who may do what: roles from where people work, scopes, tokens and password hashes."""

import uuid

import pytest

from shared.access.credentials import (hash_password, new_token, password_problem, token_hash,
                                       verify_password)
from shared.access.principals import (AccessRole, Scope, integration, parse_scopes, person)
from shared.events import Department, Role


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
