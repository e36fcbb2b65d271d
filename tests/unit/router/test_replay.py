"""What-if replay: past calls decided under the live and the candidate rules."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
import yaml
from typer.testing import CliRunner

import switchboard.replay as replay_module
from services.router.rules import parse_rules
from shared.events import CallerStatus, Category
from switchboard.cli import app
from switchboard.replay import Recorded, parse_since, replay
from tests.unit.router.factories import (CLIENT, GIANT, HEAD, RULES, enriched, owned_by,
                                         qualified, rules_from)

FRIDAY_20_MSK = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
FRIDAY_13_MSK = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def candidate_content() -> dict:
    """Large deals in roubles from 2M instead of 3M; sales work until 21:00."""
    content = copy.deepcopy(RULES)
    content["deal_size"]["RUB"]["large"] = 2_000_000
    content["departments"]["commercial"]["hours"] = {"mon-fri": "09:00-21:00"}
    return content


LIVE, CANDIDATE = rules_from(RULES), rules_from(candidate_content())


def recorded_stream():
    """Ten past calls; the candidate rules change exactly three decisions."""
    same_either_way = [
        qualified(value="100000", call_id="c:small"),
        qualified(value="5000000", call_id="c:large"),
        qualified(Category.SPAM, value="2500000", call_id="c:spam"),
        enriched(CLIENT, owned_by(), head=HEAD, at=FRIDAY_13_MSK, call_id="c:day"),
        enriched(GIANT, call_id="c:giant"),
        enriched(status=CallerStatus.WITHHELD, call_id="c:anon"),
        qualified(value="2500000", currency="USD", call_id="c:dollars"),
    ]
    changed = [
        qualified(value="2500000", call_id="c:medium-to-large"),
        qualified(value="2000000", call_id="c:on-the-line"),
        enriched(CLIENT, owned_by(), head=HEAD, at=FRIDAY_20_MSK, call_id="c:evening"),
    ]
    return same_either_way + changed


def test_the_report_counts_exactly_the_decisions_that_change():
    events = recorded_stream()
    report = replay(events, LIVE, CANDIDATE)
    assert report.decisions == 10 and len(report.calls) == 10
    assert len(report.changes) == 3 and report.changed_calls == 3
    assert {c.call_id for c in report.changes} == {"c:medium-to-large", "c:on-the-line",
                                                   "c:evening"}
    assert [(move, len(changes)) for move, changes in report.moves()] == [
        (("qualified", "client_department", "commercial_department"), 2),
        (("ring", "owner_head", "owner"), 1),
    ]
    evening = next(c for c in report.changes if c.call_id == "c:evening")
    assert evening.live.employee_id == HEAD.employee_id
    assert "off shift" in evening.live.reasons[0]
    assert "is on shift" in evening.candidate.reasons[0]
    assert evening.live.rules_version == LIVE.version
    assert evening.candidate.rules_version == CANDIDATE.version


def test_the_same_rules_change_nothing_and_a_repeated_event_counts_once():
    events = recorded_stream()
    report = replay([*events, events[0], events[-1]], LIVE, LIVE)
    assert report.decisions == 10 and report.duplicates == 2 and report.changes == []


def test_a_call_changed_at_both_stages_is_one_call():
    ring = enriched(CLIENT, owned_by(), head=HEAD, at=FRIDAY_20_MSK, call_id="c:both")
    later = qualified(value="2500000", call_id="c:both", at=FRIDAY_20_MSK + timedelta(minutes=5))
    report = replay([ring, later], LIVE, CANDIDATE)
    assert (len(report.changes), report.changed_calls, len(report.calls)) == (2, 1, 1)


def test_calls_are_decided_at_the_time_they_happened():
    call = enriched(CLIENT, owned_by(), head=HEAD, at=FRIDAY_13_MSK)
    assert replay([call], LIVE, LIVE).changes == []
    assert replay_module.decide(call, LIVE).destination == "owner"


def test_the_json_report():
    report = replay(recorded_stream(), LIVE, CANDIDATE).to_dict(examples=1)
    assert report["changed_decisions"] == 3 and report["changed_calls"] == 3
    assert report["live_rules"]["version"] == LIVE.version
    first = report["moves"][0]
    assert (first["stage"], first["from"], first["to"], first["count"]) == (
        "qualified", "client_department", "commercial_department", 2)
    [example] = first["examples"]
    assert example["live"]["destination"] == "client_department"
    assert example["candidate"]["rule_ids"][0] == "qualified.large_deal"
    json.dumps(report)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
    ("2026-11-20T09:00:00+03:00", datetime(2026, 11, 20, 6, tzinfo=UTC)),
    ("2026-11-20T09:00", datetime(2026, 11, 20, 9, tzinfo=UTC)),
    ("90m", datetime(2026, 11, 27, 10, 30, tzinfo=UTC)),
    ("7d", datetime(2026, 11, 20, 12, tzinfo=UTC)),
    ("2w", datetime(2026, 11, 13, 12, tzinfo=UTC)),
])
def test_since(text, expected):
    assert parse_since(text, datetime(2026, 11, 27, 12, tzinfo=UTC)) == expected


def test_since_that_is_not_a_time():
    with pytest.raises(typer.BadParameter, match="expected a time like"):
        parse_since("last tuesday", datetime(2026, 11, 27, tzinfo=UTC))


# --- the command, with the Kafka reader replaced ---------------------------------------------


@pytest.fixture
def files(tmp_path, monkeypatch):
    live, candidate = tmp_path / "live.yaml", tmp_path / "candidate.yaml"
    live.write_text(yaml.safe_dump(RULES))
    candidate.write_text(yaml.safe_dump(candidate_content()))
    asked = {}

    async def fake_read(settings, since=None, call_id_prefix=None, idle_timeout=30.0):
        asked.update(bootstrap=settings.bootstrap, since=since, prefix=call_id_prefix)
        events = [e for e in recorded_stream()
                  if call_id_prefix is None or e.call_id.startswith(call_id_prefix)]
        return Recorded(events, unreadable=1)

    monkeypatch.setattr(replay_module, "read_recorded", fake_read)
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP", "kafka.test:9092")
    return live, candidate, asked


def test_the_command_prints_the_changes_by_destination_with_examples(files):
    live, candidate, asked = files
    result = CliRunner().invoke(app, ["replay", "--rules", str(candidate), "--live-rules",
                                      str(live), "--since", "2026-11-20"],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert asked["bootstrap"] == "kafka.test:9092"
    assert asked["since"] == datetime(2026, 11, 20, tzinfo=UTC)
    out = result.output
    assert "Replayed 10 decisions on 10 calls" in out and "1 unreadable" in out
    assert "3 decisions (3 calls) would go elsewhere" in out
    assert "client_department" in out and "commercial_department" in out
    assert "c:evening" in out and "off" in out and "shift" in out
    assert parse_rules(live.read_bytes()).version in out


def test_the_command_speaks_json_and_filters_by_call_id(files):
    live, candidate, asked = files
    result = CliRunner().invoke(app, ["replay", "--rules", str(candidate), "--live-rules",
                                      str(live), "--json", "--call-id-prefix", "c:medium"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert asked["prefix"] == "c:medium"
    assert (report["decisions"], report["changed_decisions"]) == (1, 1)


def test_a_broken_candidate_is_refused_with_line_and_field(files):
    live, candidate, _ = files
    candidate.write_text(candidate.read_text().replace("large: 2000000", "large: many"))
    result = CliRunner().invoke(app, ["replay", "--rules", str(candidate), "--live-rules",
                                      str(live)], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "deal_size.RUB.large" in result.output and "line " in result.output
