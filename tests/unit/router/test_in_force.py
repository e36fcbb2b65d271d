"""A changed rules file comes into force without a restart; a broken one is refused and the
rules in force stay in force."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.router.in_force import RulesInForce
from services.router.rules import RulesError
from tests.unit.router.factories import DEFAULT_RULES_FILE

DEFAULT = DEFAULT_RULES_FILE.read_text()


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT)
    return path


def test_a_changed_file_comes_into_force(rules_file):
    in_force = RulesInForce.load(rules_file)
    first = in_force.current
    assert in_force.refresh() is False  # unchanged
    rules_file.write_text(DEFAULT.replace("large: 3_000_000", "large: 2_000_000"))
    assert in_force.refresh() is True
    assert in_force.current.version != first.version
    assert str(in_force.current.thresholds("RUB").large) == "2000000"


def test_a_broken_file_is_refused_once_and_the_rules_in_force_stay(rules_file, caplog):
    in_force = RulesInForce.load(rules_file)
    good = in_force.current
    rules_file.write_text(DEFAULT.replace("large: 3_000_000", "large: lots"))
    with caplog.at_level(logging.ERROR):
        assert in_force.refresh() is False
        assert in_force.refresh() is False
    assert in_force.current is good
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "deal_size.RUB.large" in record.getMessage()
    assert f"the rules in force ({good.version}) stay in force" in record.getMessage()
    status = in_force.status()
    assert status["version"] == good.version
    [problem] = status["refused"]["problems"]
    assert problem["field"] == "deal_size.RUB.large"
    assert problem["line"] == next(n for n, line in enumerate(
        rules_file.read_text().splitlines(), 1) if "lots" in line)
    # fixed: the refusal is gone
    rules_file.write_text(DEFAULT)
    assert in_force.refresh() is False
    assert in_force.status()["refused"] is None


def test_a_file_gone_for_a_moment_keeps_the_rules(rules_file):
    in_force = RulesInForce.load(rules_file)
    rules_file.unlink()
    assert in_force.refresh() is False
    assert "cannot read it" in in_force.status()["refused"]["error"]
    rules_file.write_text(DEFAULT)
    in_force.refresh()
    assert in_force.status()["refused"] is None


def test_at_start_a_broken_file_is_an_error(rules_file):
    rules_file.write_text("desks: [")
    with pytest.raises(RulesError, match="line 1"):
        RulesInForce.load(rules_file)


async def test_watching_picks_up_a_change(rules_file):
    in_force = RulesInForce.load(rules_file, reload_seconds=0.01)
    first = in_force.current.version
    watching = asyncio.create_task(in_force.watch())
    try:
        rules_file.write_text(DEFAULT + "\n# a reviewed copy\n")
        for _ in range(200):
            if in_force.current.version != first:
                break
            await asyncio.sleep(0.01)
        assert in_force.current.version != first
    finally:
        watching.cancel()
