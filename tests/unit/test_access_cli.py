"""The operator's access commands without a database: what they refuse before connecting, the
`--since` of `switchboard audit`, and a database that does not answer."""

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from switchboard.audit import since_from
from switchboard.cli import app

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
NOWHERE = {"SWITCHBOARD_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/switchboard"}


@pytest.mark.parametrize(("given", "expected"), [
    ("30m", NOW - timedelta(minutes=30)),
    ("12h", NOW - timedelta(hours=12)),
    ("7d", NOW - timedelta(days=7)),
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
    ("2026-11-20T09:30", datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
    ("2026-11-20T09:30+03:00", datetime(2026, 11, 20, 6, 30, tzinfo=UTC)),
])
def test_since_is_a_duration_or_an_iso_date(given, expected):
    assert since_from(given, NOW) == expected


@pytest.mark.parametrize("given", ["7w", "yesterday", "", "-3d"])
def test_since_refuses_anything_else(given):
    with pytest.raises(ValueError, match="neither a duration"):
        since_from(given, NOW)


def test_an_unknown_scope_is_refused_before_the_database_with_the_known_ones():
    result = CliRunner().invoke(app, ["integration", "add", "crm", "--scope", "deals:writ"],
                                env=NOWHERE)
    assert result.exit_code == 2
    assert "deals:writ" in result.output
    assert "clients:write" in result.output and "audit:read" in result.output


def test_an_integration_token_needs_a_scope():
    result = CliRunner().invoke(app, ["integration", "add", "crm"], env=NOWHERE)
    assert result.exit_code == 2
    assert "--scope" in result.output


@pytest.mark.parametrize("args", [
    ["token", "a@example.com"],
    ["integration", "add", "crm", "--scope", "clients:read"],
    ["integration", "list"],
    ["user", "invite", "a@example.com"],
    ["user", "set-password", "a@example.com"],
    ["audit"],
])
def test_a_database_that_does_not_answer_is_one_line_and_exit_1(args):
    result = CliRunner().invoke(app, args, env=NOWHERE, input="a good password\n")
    assert result.exit_code == 1, result.output
    assert result.output.startswith("database error (127.0.0.1:1/switchboard)")
    assert len(result.output.strip().splitlines()) == 1
