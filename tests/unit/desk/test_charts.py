"""The dashboard's pictures: round ticks, bars in proportion and stacked, a whole split into
its shares, whiskers where their rates are; and the Beta distribution behind the whiskers."""

from __future__ import annotations

import pytest

from services.desk.charts import (Frame, IntervalRow, interval_chart, nice_ceiling, share_bar,
                                  stacked_bars, ticks)
from services.desk.stats import Beta, regularized_incomplete_beta


@pytest.mark.parametrize("value, nice", [
    (0, 1), (-3, 1), (0.3, 0.5), (1, 1), (1.1, 2), (2.2, 2.5), (3, 5), (7, 10), (12, 20),
    (21, 25), (26, 50), (501, 1000),
])
def test_a_nice_ceiling_is_one_two_two_and_a_half_or_five_times_a_power_of_ten(value, nice):
    assert nice_ceiling(value) == pytest.approx(nice)


@pytest.mark.parametrize("maximum, expected", [
    (0, [0, 1]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]), (22, [0, 10, 20, 30]),
    (100, [0, 25, 50, 75, 100]),
])
def test_ticks_are_round_whole_numbers_reaching_the_maximum(maximum, expected):
    assert ticks(maximum) == expected


def test_bars_stand_on_the_baseline_in_proportion_and_stack_in_series_order():
    frame = Frame(400, 200, left=40, right=10, top=10, bottom=30)
    chart = stacked_bars(["09", "10", "11", "12"], ["owner", "desk"],
                         {"owner": [2, 0, 4, 1], "desk": [2, 0, 4]}, frame)
    assert chart.totals == [4, 0, 8, 1]
    assert chart.maximum == 8 and [t.value for t in chart.y_ticks] == [0, 2, 4, 6, 8]
    assert chart.y_ticks[0].at == frame.baseline == 170
    assert chart.y_ticks[-1].at == frame.top
    by_category = {}
    for bar in chart.bars:
        by_category.setdefault(bar.category, []).append(bar)
    assert 1 not in by_category  # nothing to draw, nothing drawn
    owner, desk = by_category[2]
    assert (owner.series, desk.series) == ("owner", "desk")
    assert owner.y + owner.height == pytest.approx(170)  # the first series on the baseline
    assert desk.y + desk.height == pytest.approx(owner.y)  # the next one on top of it
    assert owner.height + desk.height == pytest.approx(frame.plot_height)  # the tallest reaches
    assert by_category[3][0].height == pytest.approx(frame.plot_height / 8, abs=0.1)
    slot = frame.plot_width / 4
    assert owner.x == pytest.approx(40 + 2 * slot + (slot - owner.width) / 2, abs=0.1)
    assert all(frame.left <= b.x and b.x + b.width <= frame.width - frame.right
               for b in chart.bars)


def test_every_other_category_is_labelled_when_asked():
    chart = stacked_bars([f"{h:02d}" for h in range(24)], ["calls"], {"calls": [1] * 24},
                         Frame(720, 240), label_every=2)
    assert [label.text for label in chart.x_labels] == [f"{h:02d}" for h in range(0, 24, 2)]


def test_an_empty_chart_has_a_scale_and_no_bars():
    chart = stacked_bars(["a", "b"], ["x"], {}, Frame(300, 100))
    assert chart.bars == [] and chart.maximum == 1


def test_a_share_bar_splits_the_width_in_proportion_and_drops_empty_parts():
    parts = share_bar([("kept", 1), ("assigned", 0), ("deadline", 3)], width=400, left=10)
    assert [(p.key, p.share) for p in parts] == [("kept", 0.25), ("deadline", 0.75)]
    assert (parts[0].x, parts[0].width) == (10, 100)
    assert (parts[1].x, parts[1].width) == (110, 300)
    assert share_bar([("kept", 0)], width=400) == []


def test_whiskers_go_from_low_to_high_with_the_dot_at_the_mean():
    rows = [IntervalRow("Anna", 0.8, 0.7, 0.9), IntervalRow("Boris", 0.4, 0.1, 0.75)]
    chart = interval_chart(rows, width=600, left=150, right=50, row_height=30,
                           reference=0.5)
    plot = chart.frame.plot_width
    assert plot == 400
    anna, boris = chart.whiskers
    assert (anna.x_low, anna.x_mean, anna.x_high) == (150 + 280, 150 + 320, 150 + 360)
    assert boris.y - anna.y == 30
    assert chart.reference is not None and chart.reference.at == 350
    assert [t.at for t in chart.x_ticks] == [150, 250, 350, 450, 550]
    assert chart.frame.height == 24 + 28 + 60


# --- the Beta distribution ----------------------------------------------------------------


def test_the_beta_distribution_function_agrees_with_known_values():
    assert regularized_incomplete_beta(0.3, 1, 1) == pytest.approx(0.3)
    assert regularized_incomplete_beta(0.5, 2, 2) == pytest.approx(0.5)
    assert regularized_incomplete_beta(0.5, 3, 1) == pytest.approx(0.125)  # x^a for b = 1
    assert regularized_incomplete_beta(0.2, 1, 4) == pytest.approx(1 - 0.8 ** 4)
    a, b, x = 7.5, 3.25, 0.61
    assert regularized_incomplete_beta(x, a, b) == pytest.approx(
        1 - regularized_incomplete_beta(1 - x, b, a))
    assert regularized_incomplete_beta(0, 2, 3) == 0 and regularized_incomplete_beta(1, 2, 3) == 1


def test_quantiles_invert_the_distribution_function():
    beta = Beta(50.5, 9.5)
    low, high = beta.interval(0.9)
    assert beta.cdf(low) == pytest.approx(0.05, abs=1e-4)
    assert beta.cdf(high) == pytest.approx(0.95, abs=1e-4)
    assert low < beta.mean < high
    assert Beta(3, 1).quantile(0.5) == pytest.approx(0.5 ** (1 / 3), abs=1e-4)


def test_fewer_outcomes_mean_a_wider_interval():
    few, many = Beta(3 + 5, 0 + 5), Beta(300 + 5, 0 + 5)
    assert few.interval()[1] - few.interval()[0] > 0.4
    assert many.interval()[1] - many.interval()[0] < 0.05


def test_a_beta_needs_positive_parameters():
    with pytest.raises(ValueError):
        Beta(0, 1)
    with pytest.raises(ValueError):
        Beta(1, 1).quantile(1.5)
