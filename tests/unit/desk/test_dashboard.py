"""What the dashboard counts: the last 24 hours by destination, the last 14 days, how the
commercial leads got their negotiator, how long that took, the negotiators' win rates."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from services.desk.dashboard import daily_counts, delays, hourly_calls, kept_share, win_rates
from services.desk.sales import Colleague
from shared.chances import Record
from shared.events import Role

NOW_LOCAL = datetime(2026, 11, 27, 13, 25)


def test_calls_per_hour_fill_24_slots_up_to_the_current_hour():
    rows = [(datetime(2026, 11, 27, 13), "owner", 3),
            (datetime(2026, 11, 27, 13), None, 1),  # no decision yet
            (datetime(2026, 11, 27, 9), "client_department", 5),
            (datetime(2026, 11, 26, 13), "owner", 7),  # 24 hours ago: out of the window
            (datetime(2026, 11, 27, 9), "no_such_place", 2)]
    calls = hourly_calls(rows, NOW_LOCAL)
    assert len(calls.hours) == 24
    assert calls.hours[0] == datetime(2026, 11, 26, 14) and calls.hours[-1] == datetime(
        2026, 11, 27, 13)
    assert calls.by_destination["owner"][-1] == 3
    assert calls.by_destination["deciding"][-1] == 1
    assert calls.by_destination["client_department"][19] == 5
    assert calls.by_destination["deciding"][19] == 2
    assert calls.total == 11
    assert calls.busiest == (datetime(2026, 11, 27, 9), 7)
    assert hourly_calls([], NOW_LOCAL).busiest is None


def test_days_without_alerts_count_zero():
    alerts = daily_counts([(date(2026, 11, 27), 2), (date(2026, 11, 20), 1),
                           (date(2026, 11, 1), 9)], date(2026, 11, 27))
    assert alerts.days[0] == date(2026, 11, 14) and alerts.days[-1] == date(2026, 11, 27)
    assert alerts.counts[-1] == 2 and alerts.counts[6] == 1 and alerts.total == 3


def test_the_share_the_head_keeps():
    share = kept_share([("head_kept", 3), ("strongest_available", 5), ("head_assigned", 2),
                        ("owner", 40)])
    assert share.parts == [("head_kept", 3), ("head_assigned", 2), ("strongest_available", 5)]
    assert share.total == 10 and share.kept == pytest.approx(0.3)
    assert kept_share([]).kept is None


def test_the_time_to_assignment_in_buckets_and_its_median():
    found = delays([10, 59, 60, 200, 601, 4000, -1])
    assert dict(found.buckets) == {"under_1": 3, "1_5": 2, "5_10": 0, "10_30": 1, "30_60": 0,
                                   "over_60": 1}
    assert found.median_seconds == 60 and found.total == 7
    assert delays([]).median_seconds is None


def member(name, won, lost, role=Role.AGENT, active=True):
    return Colleague(uuid.uuid4(), name, role, 0, 10, active, False,
                     {("corporate", "large"): Record(won, lost),
                      ("individual", "small"): Record(won, 0)} if won or lost else {})


def test_win_rates_with_their_interval_and_the_department_they_start_from():
    anna, boris = member("Anna", 20, 10), member("Boris", 1, 1)
    boss, newcomer = member("Boss", 5, 5, Role.HEAD), member("New", 0, 0)
    rates = win_rates([anna, boris, boss, newcomer, member("Gone", 50, 0, active=False)], 10)
    # the department: every active member's outcomes (Anna 40 of 50, Boris 2 of 3, the head
    # 10 of 15; not who left), one won and one lost added
    assert rates.department == pytest.approx((40 + 2 + 10 + 1) / (50 + 3 + 15 + 2))
    assert [r.name for r in rates.rates] == ["Anna", "Boris"]  # no outcome, nothing to show
    best, few = rates.rates
    assert best.record == Record(40, 10)
    assert best.low < best.mean < best.high
    assert few.high - few.low > best.high - best.low  # fewer outcomes, wider
    assert rates.left_out == 0


def test_only_the_negotiators_with_the_most_outcomes_are_drawn():
    many = [member(f"N{i:02d}", i, 1) for i in range(1, 21)]
    rates = win_rates(many, 10, limit=15)
    assert len(rates.rates) == 15 and rates.left_out == 5
    assert "N01" not in {r.name for r in rates.rates}
    assert [r.mean for r in rates.rates] == sorted((r.mean for r in rates.rates), reverse=True)


def test_a_day_boundary_in_hours():
    calls = hourly_calls([(datetime(2026, 11, 27, 0), "owner", 1)],
                         datetime(2026, 11, 27, 0, 5), hours=3)
    assert calls.hours == [datetime(2026, 11, 26, 22), datetime(2026, 11, 26, 23),
                           datetime(2026, 11, 27, 0)]
    assert calls.by_destination["owner"] == [0, 0, 1]
    assert timedelta(hours=1) == calls.hours[1] - calls.hours[0]
