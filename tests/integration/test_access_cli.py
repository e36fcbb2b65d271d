"""The operator's access commands against a real PostgreSQL: `switchboard token`, `integration`,
`user set-password|invite`, `audit`, and the audit line of an import.

The database is shared by the whole session: every test uses random e-mails and names and
reads back only its own rows and audit lines.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from shared.access.credentials import token_hash, verify_password
from shared.access.principals import PrincipalKind, Scope
from shared.access.store import AccessStore
from switchboard.cli import app
from tests.conftest import Endpoints
from tests.support import query_rows, random_id, seed_employee

pytestmark = pytest.mark.integration

DOMAIN = "access-cli.example"


def run(infra: Endpoints, *args: str, input: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), input=input, env={
        "SWITCHBOARD_DATABASE_URL": infra.database_url, "COLUMNS": "200", **env})


def employee(infra: Endpoints, **kw: Any) -> str:
    """A new employee's e-mail."""
    email = f"{kw.pop('who', 'someone')}.{random_id()}@{DOMAIN}"

    async def seed() -> None:
        conn = await asyncpg.connect(infra.database_url)
        try:
            await seed_employee(conn, email=email, **kw)
        finally:
            await conn.close()

    asyncio.run(seed())
    return email


def audited(infra: Endpoints, subject: str, who: str = "switchboard") -> list[dict[str, Any]]:
    """The audit lines of the last few minutes about `subject`, newest first."""
    result = run(infra, "audit", "--who", who, "--since", "10m", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [line for line in lines if line["subject"] == subject]


def token_principal(infra: Endpoints, token: str):
    async def look_up():
        pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=1)
        try:
            return await AccessStore(pool).token_principal(token_hash(token), datetime.now(UTC))
        finally:
            await pool.close()

    return asyncio.run(look_up())


# ---------------------------------------------------------------------------- token


def test_a_persons_token_is_issued_with_an_expiry_revoked_and_audited(infra):
    # Given a head of the commercial department
    email = employee(infra, who="head", role="head")
    # When a token is issued for 3 days (the e-mail in another case)
    issued = run(infra, "token", email.upper(), "--expires-in", "3")
    # Then it is printed once, last, and works as the head until it expires
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("sb_")
    assert "the head's inbox" in issued.stdout
    principal = token_principal(infra, token)
    assert principal.kind is PrincipalKind.PERSON and principal.name == email
    [row] = query_rows(infra.database_url, "SELECT expires_at, revoked_at FROM api_tokens WHERE token_hash = $1",
                  token_hash(token))
    assert row["revoked_at"] is None
    assert abs(row["expires_at"] - (datetime.now(UTC) + timedelta(days=3))) < timedelta(minutes=1)
    # When the tokens are revoked without a new one
    revoked = run(infra, "token", email, "--revoke", "--no-issue")
    # Then the token stops working, and both are in the audit, newest first
    assert revoked.exit_code == 0, revoked.output
    assert token_principal(infra, token) is None
    lines = audited(infra, email)
    assert [line["action"] for line in lines] == ["token.revoke", "token.issue"]
    assert lines[0]["detail"] == {"tokens": 1}
    assert lines[1]["kind"] == "system" and lines[1]["who"] == "switchboard"
    assert lines[1]["detail"]["expires_at"] == row["expires_at"].isoformat()
    # An unknown e-mail is an error
    unknown = run(infra, "token", f"nobody.{random_id()}@{DOMAIN}")
    assert unknown.exit_code == 1
    assert "no employee has the e-mail" in unknown.output


# ---------------------------------------------------------------------------- integrations


def test_an_integration_gets_a_token_with_exactly_its_scopes(infra):
    name = f"crm-{random_id()}"
    # When an integration is added with two scopes
    added = run(infra, "integration", "add", name, "--scope", "clients:write",
                "--scope", "deals:write")
    # Then its token is printed once and is allowed exactly those
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("sbi_")
    principal = token_principal(infra, token)
    assert principal.kind is PrincipalKind.INTEGRATION and principal.name == name
    assert principal.scopes == {Scope.CLIENTS_WRITE, Scope.DEALS_WRITE}
    [row] = query_rows(infra.database_url, "SELECT t.scopes, t.expires_at FROM api_tokens t JOIN integrations i "
                         "USING (integration_id) WHERE i.name = $1", name)
    assert row["scopes"] == ["clients:write", "deals:write"] and row["expires_at"] is None
    # When a second token is issued (the integration is reused) and later both are replaced
    second = run(infra, "integration", "add", name, "--scope", "clients:read",
                 "--expires-in", "30")
    assert second.exit_code == 0, second.output
    second_token = second.stdout.strip().splitlines()[-1]
    replaced = run(infra, "integration", "add", name, "--revoke", "--scope", "rules:read")
    assert replaced.exit_code == 0, replaced.output
    third = replaced.stdout.strip().splitlines()[-1]
    # Then only the newest works, with its own scope
    assert token_principal(infra, token) is None and token_principal(infra, second_token) is None
    assert token_principal(infra, third).scopes == {Scope.RULES_READ}
    assert len(query_rows(infra.database_url, "SELECT 1 FROM integrations WHERE name = $1", name)) == 1
    listed = run(infra, "integration", "list")
    assert listed.exit_code == 0, listed.output
    [line] = [line for line in listed.stdout.splitlines() if name in line]
    assert "rules:read" in line and "clients:write" not in line
    # When it is revoked without a new token, it is cut off
    cut = run(infra, "integration", "add", name, "--revoke")
    assert cut.exit_code == 0, cut.output
    assert token_principal(infra, third) is None
    [row] = query_rows(infra.database_url, "SELECT revoked_at FROM integrations WHERE name = $1", name)
    assert row["revoked_at"] is not None
    # And the audit has every issue and revocation, newest first
    lines = audited(infra, name)
    assert [line["action"] for line in lines] == [
        "integration.token.revoke",  # cut off
        "integration.token.issue", "integration.token.revoke",  # replaced
        "integration.token.issue", "integration.token.issue"]
    assert lines[0]["detail"] == {"tokens": 1} and lines[2]["detail"] == {"tokens": 2}
    assert lines[1]["detail"]["scopes"] == ["rules:read"]
    assert lines[-1]["detail"]["scopes"] == ["clients:write", "deals:write"]
    assert lines[-1]["detail"]["created"] is True and lines[-2]["detail"]["created"] is False


def test_an_unknown_scope_is_refused_with_the_known_ones(infra):
    name = f"crm-{random_id()}"
    refused = run(infra, "integration", "add", name, "--scope", "clients:write",
                  "--scope", "clients:wrte")
    assert refused.exit_code == 2
    assert "clients:wrte" in refused.output and "deals:write" in refused.output
    assert not query_rows(infra.database_url, "SELECT 1 FROM integrations WHERE name = $1", name)
    unknown = run(infra, "integration", "add", name, "--revoke")
    assert unknown.exit_code == 1
    assert "no integration is named" in unknown.output


# ---------------------------------------------------------------------------- passwords


def test_set_password_reads_standard_input_and_stores_an_argon2_hash(infra):
    email = employee(infra)
    # When a script pipes a password in
    result = run(infra, "user", "set-password", email, input="correct horse battery\n")
    # Then its hash is stored and verifies, and the audit has it
    assert result.exit_code == 0, result.output
    [row] = query_rows(infra.database_url, "SELECT password_hash FROM employees WHERE email = $1", email)
    assert row["password_hash"].startswith("$argon2id$")
    assert verify_password(row["password_hash"], "correct horse battery")
    assert not verify_password(row["password_hash"], "correct horse battery\n")
    [line] = audited(infra, email)
    assert line["action"] == "password.set" and line["detail"]["by"] == "command line"
    # A password the rules refuse is not stored
    short = run(infra, "user", "set-password", email, input="short\n")
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output
    [after] = query_rows(infra.database_url, "SELECT password_hash FROM employees WHERE email = $1", email)
    assert after["password_hash"] == row["password_hash"]
    unknown = run(infra, "user", "set-password", f"nobody.{random_id()}@{DOMAIN}",
                  input="correct horse battery\n")
    assert unknown.exit_code == 1
    assert "no employee has the e-mail" in unknown.output


def test_invite_prints_a_one_time_link_and_stores_only_its_hash(infra):
    email = employee(infra)
    env = {"SWITCHBOARD_ACCESS_PUBLIC_URL": "https://desk.example/",
           "SWITCHBOARD_ACCESS_INVITATION_HOURS": "5"}
    result = run(infra, "user", "invite", email, **env)
    assert result.exit_code == 0, result.output
    [link] = [line for line in result.stdout.splitlines() if line.startswith("https://")]
    found = re.fullmatch(r"https://desk\.example/invite/(sbv_[A-Za-z0-9_-]{43})", link)
    assert found, link
    token = found[1]
    assert f"/v1/invitations/{token}" in result.stdout  # the API, for scripts
    [row] = query_rows(infra.database_url, "SELECT e.email, i.expires_at, i.used_at FROM invitations i "
                         "JOIN employees e USING (employee_id) WHERE i.token_hash = $1",
                  token_hash(token))
    assert row["email"] == email and row["used_at"] is None
    assert abs(row["expires_at"] - (datetime.now(UTC) + timedelta(hours=5))) < timedelta(minutes=1)
    assert not query_rows(infra.database_url, "SELECT 1 FROM invitations WHERE token_hash = $1", token)
    # A second invitation replaces the first link
    again = run(infra, "user", "invite", email, **env)
    assert again.exit_code == 0, again.output
    [first] = query_rows(infra.database_url, "SELECT expires_at FROM invitations WHERE token_hash = $1",
                    token_hash(token))
    assert first["expires_at"] <= datetime.now(UTC)
    lines = audited(infra, email)
    assert [line["action"] for line in lines] == ["user.invite", "user.invite"]
    assert lines[0]["detail"]["replaced"] == 1
    assert run(infra, "user", "invite", f"nobody.{random_id()}@{DOMAIN}").exit_code == 1


# ---------------------------------------------------------------------------- audit


def test_audit_filters_by_principal_and_time(infra):
    # Given three lines of one person: 10 days, 2 hours and a minute old
    who = f"auditor.{random_id()}@{DOMAIN}"
    now = datetime.now(UTC)
    for age, action, subject in ((timedelta(days=10), "client.upsert", "ext-1"),
                                 (timedelta(hours=2), "lead.keep", "lead-2"),
                                 (timedelta(minutes=1), "caller.look_up", "+79161234567")):
        query_rows(infra.database_url, "INSERT INTO audit_log (at, principal_kind, principal, action, subject, "
                     "detail) VALUES ($1, 'person', $2, $3, $4, $5::jsonb)",
              now - age, who, action, subject, json.dumps({"line": action}))

    def actions(*args: str) -> list[str]:
        result = run(infra, "audit", "--who", who.upper(), "--json", *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["action"] for line in result.stdout.splitlines()]

    # Then the last 7 days by default, newest first; other spans as asked
    assert actions() == ["caller.look_up", "lead.keep"]
    assert actions("--since", "30m") == ["caller.look_up"]
    assert actions("--since", "12h") == ["caller.look_up", "lead.keep"]
    assert actions("--since", "30d") == ["caller.look_up", "lead.keep", "client.upsert"]
    eleven_days_ago = (now - timedelta(days=11)).date().isoformat()
    assert actions("--since", eleven_days_ago) == ["caller.look_up", "lead.keep",
                                                   "client.upsert"]
    assert actions("--since", (now - timedelta(hours=3)).isoformat()) == ["caller.look_up",
                                                                          "lead.keep"]
    assert actions("--since", "30d", "--limit", "1") == ["caller.look_up"]
    # The JSON lines carry every field; the number is shown as stored
    result = run(infra, "audit", "--who", who, "--since", "30m", "--json")
    [line] = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["kind"] == "person" and line["who"] == who
    assert line["subject"] == "+79161234567" and line["detail"] == {"line": "caller.look_up"}
    assert datetime.fromisoformat(line["at"]) > now - timedelta(minutes=2)
    # The table shows the same
    table = run(infra, "audit", "--who", who)
    assert table.exit_code == 0, table.output
    assert "caller.look_up" in table.stdout and "+79161234567" in table.stdout
    assert "client.upsert" not in table.stdout
    assert "nothing in the audit log" in run(infra, "audit", "--who", f"x{who}").stdout
    # A --since that is neither is refused
    bad = run(infra, "audit", "--since", "7 weeks")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_an_import_run_writes_one_audit_line(infra, tmp_path):
    file = tmp_path / f"staff-{random_id()}.csv"
    email = f"imported.{random_id()}@{DOMAIN}"
    file.write_text(f"email,name,department,role\n{email},Anna Ivanova,commercial,agent\n"
                    f"broken,,,\n", encoding="utf-8")
    result = run(infra, "import", "employees", str(file))
    assert result.exit_code == 0, result.output
    [line] = audited(infra, f"employees {file.name}")
    assert line["action"] == "import"
    assert line["detail"] == {"rows_read": 2, "inserted": 1, "updated": 0, "unchanged": 0,
                              "rejected": 1, "loaded_with_warnings": 0}
