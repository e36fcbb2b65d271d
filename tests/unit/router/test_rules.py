"""The rules file: the default one is valid, a broken one is refused with line and field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.router.rules import RulesError, load_rules, parse_rules, rules_version
from shared.events import Department, Destination, Segment
from tests.unit.router.factories import DEFAULT_RULES_FILE, rules

DEFAULT = DEFAULT_RULES_FILE.read_text()


def refused(text: str) -> RulesError:
    with pytest.raises(RulesError) as caught:
        parse_rules(text.encode(), "candidate.yaml")
    return caught.value


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_default_rules_file_is_valid_and_versioned_by_its_bytes():
    default = load_rules(DEFAULT_RULES_FILE)
    assert default.version == rules_version(DEFAULT_RULES_FILE.read_bytes())
    assert len(default.version) == 12
    assert default.thresholds("RUB").medium == Decimal(300_000)
    assert default.thresholds("RUB").large == Decimal(3_000_000)
    assert {"USD", "EUR"} <= set(default.file.deal_size)
    assert default.segment(Segment.LARGE_CORPORATE).ring == "commercial_department"
    assert default.desk(Destination.COMMERCIAL_DEPARTMENT) == "head of sales' inbox"
    assert default.hours_text(Department.COMMERCIAL) == \
        "Mon–Fri 09:00–19:00, Europe/Moscow time"


def test_a_comment_changes_the_version_but_not_the_rules():
    changed = parse_rules((DEFAULT + "\n# reviewed\n").encode())
    assert changed.version != load_rules(DEFAULT_RULES_FILE).version
    assert changed.file == load_rules(DEFAULT_RULES_FILE).file


def test_working_hours_in_the_departments_time_zone():
    vladivostok = rules(departments={
        "client": {"time_zone": "Europe/Moscow", "hours": {"mon-sun": "00:00-24:00"}},
        "commercial": {"time_zone": "Asia/Vladivostok",
                       "hours": {"mon-fri": "09:00-13:00, 14:00-18:00", "sat": False,
                                 "sun": "off"}}})
    # 00:30 UTC on a Monday is 10:30 in Vladivostok
    assert vladivostok.on_shift(Department.COMMERCIAL, datetime(2026, 11, 30, 0, 30, tzinfo=UTC))
    # lunch: 13:30 there
    assert not vladivostok.on_shift(Department.COMMERCIAL,
                                    datetime(2026, 11, 30, 3, 30, tzinfo=UTC))
    assert vladivostok.hours_text(Department.COMMERCIAL) == \
        "Mon–Fri 09:00–13:00, 14:00–18:00, Asia/Vladivostok time"
    assert vladivostok.on_shift(Department.CLIENT, datetime(2026, 11, 29, 23, 59, tzinfo=UTC))
    assert vladivostok.hours_text(Department.CLIENT) == \
        "Mon–Sun 00:00–24:00, Europe/Moscow time"


@pytest.mark.parametrize("old, new, fragment, field, message", [
    ("large: 3_000_000", "large: 200_000", "large: 200_000", "deal_size.RUB.large",
     "large (200000) must be above medium (300000)"),
    ("medium: 3_500", "medium: -5", "medium: -5", "deal_size.USD.medium",
     "Input should be greater than 0"),
    ("  EUR:", "  euro:", "euro:", "deal_size.euro", "String should match pattern"),
    ('mon-fri: "09:00-19:00"', 'mon-fry: "09:00-19:00"', "mon-fry",
     "departments.commercial.hours.mon-fry", "days are mon, tue"),
    ('mon-fri: "09:00-19:00"', 'mon-fri: "19:00-09:00"', '"19:00-09:00"',
     "departments.commercial.hours.mon-fri", "ends before it starts"),
    ('mon-fri: "09:00-19:00"', "mon-fri: 9", "mon-fri: 9",
     "departments.commercial.hours.mon-fri", "expected working hours as text in quotes"),
    ("time_zone: Europe/Moscow\n    hours:\n      mon-fri: \"09",
     "time_zone: Europe/Moskva\n    hours:\n      mon-fri: \"09", "Europe/Moskva",
     "departments.commercial.time_zone", "'Europe/Moskva' is not a known time zone"),
    ("    ring: commercial_department", "    ring: sales", "ring: sales",
     "segments.large_corporate.ring", "Input should be 'client_department' or"),
    ("  large_corporate:\n    ring", "  huge:\n    ring", "huge:", "segments.huge",
     "Input should be 'individual'"),
    ("    name: head of sales' inbox", "    nmae: head of sales' inbox", "nmae:",
     "desks.commercial_department.nmae", "not a known setting here (misspelt?)"),
    ("closed: [2026-12-31, 2027-01-01, 2027-01-02, 2027-01-07]\n  commercial",
     "closed: [2026-12-32]\n  commercial", "2026-12-32", "departments.client.closed.0",
     "Input should be a valid date"),
])
def test_a_broken_file_is_refused_naming_the_line_and_the_field(old, new, fragment, field,
                                                                message):
    assert old in DEFAULT
    text = DEFAULT.replace(old, new, 1)
    error = refused(text)
    problem = next(p for p in error.problems if p.field == field)
    assert problem.line == line_of(text, fragment)
    assert message in problem.message
    assert str(error).startswith("rules file candidate.yaml refused: line ")
    assert f"line {problem.line}, {field}: {problem.message}" in str(error)


def test_a_missing_setting_is_reported_at_the_mapping_that_lacks_it():
    text = DEFAULT.replace("    medium: 3_200\n", "")
    [problem] = refused(text).problems
    assert problem.field == "deal_size.EUR.medium"
    assert problem.line == line_of(text, "  EUR:")
    assert problem.message == "Field required"


def test_working_hours_for_every_department_are_required():
    text = DEFAULT.replace("  client:\n", "  clients:\n", 1)
    problems = refused(text).problems
    assert {p.field for p in problems} == {"departments.clients"}


def test_every_problem_is_reported_at_once():
    text = DEFAULT.replace("large: 3_000_000", "large: 1").replace("sat:", "saturday:")
    assert [p.field for p in refused(text).problems] == [
        "departments.client.hours.saturday", "deal_size.RUB.large"]


@pytest.mark.parametrize("text, line, message", [
    ("desks: [\n", 2, "not valid YAML"),
    ("desks:\n  a: 1\n   b: 2\n", 3, "not valid YAML"),
    ("", None, "the file is empty"),
    ("- a list\n", 1, "expected a mapping"),
    ("desks: {}\ndeal_size: {}\ndesks: {}\n", 3, "this key appears twice"),
])
def test_what_is_not_yaml_or_not_a_rules_document_is_refused(text, line, message):
    [problem] = refused(text).problems
    assert problem.line == line
    assert message in problem.message


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(RulesError, match="cannot read it"):
        load_rules(tmp_path / "nope.yaml")


def test_the_always_open_test_rules_match_the_default_but_for_the_hours():
    always_open = load_rules(DEFAULT_RULES_FILE.parents[1] / "tests" / "integration"
                             / "rules_always_open.yaml")
    default = load_rules(DEFAULT_RULES_FILE)
    assert always_open.file.deal_size == default.file.deal_size
    assert always_open.file.segments == default.file.segments
    assert always_open.file.desks == default.file.desks
    sunday_night = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)
    assert all(always_open.on_shift(d, sunday_night) for d in Department)
