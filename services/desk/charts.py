"""The geometry of the dashboard's pictures: where each bar, whisker and tick goes in an SVG
of a given size. Pure; the templates (`charts.html`) draw it and name it (title, desc, a
table of the same numbers), so the pictures need no script and no chart library."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Frame:
    """An SVG of `width` x `height` with margins around the plotting area."""

    width: float
    height: float
    left: float = 44
    right: float = 12
    top: float = 12
    bottom: float = 28

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> float:
        """The y of the value 0."""
        return self.top + self.plot_height


@dataclass(frozen=True)
class Tick:
    value: float
    at: float  # the pixel: a y on a vertical axis, an x on a horizontal one


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10 * power


def ticks(maximum: float, count: int = 4) -> list[float]:
    """Round values from 0 up to at least `maximum`, about `count` steps apart; whole
    numbers for counts."""
    step = nice_ceiling(maximum / count) if maximum > 0 else 1.0
    if step < 1:
        step = 1.0
    steps = max(1, math.ceil(maximum / step - 1e-9))
    return [step * i for i in range(steps + 1)]


# --- bars -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    category: int  # the index of its category
    value: float


@dataclass(frozen=True)
class Label:
    at: float  # the x of its category's middle
    text: str


@dataclass(frozen=True)
class BarChart:
    frame: Frame
    bars: list[Bar]
    y_ticks: list[Tick]
    x_labels: list[Label]
    series: list[str]
    totals: list[float]  # per category

    @property
    def maximum(self) -> float:
        return self.y_ticks[-1].value


def _scale(value: float, maximum: float, length: float) -> float:
    return value / maximum * length if maximum > 0 else 0.0


def _r(value: float) -> float:
    return round(value, 1)


def _value(values: Mapping[str, Sequence[float]], series: str, i: int) -> float:
    given = values.get(series, ())
    return given[i] if i < len(given) else 0


def stacked_bars(categories: Sequence[str], series: Sequence[str],
                 values: Mapping[str, Sequence[float]], frame: Frame, *,
                 label_every: int = 1, bar_share: float = 0.72) -> BarChart:
    """One bar per category, its series stacked bottom-up in the order given; a series
    without a value somewhere counts 0 there. Every `label_every`-th category is labelled."""
    n = len(categories)
    totals = [sum(_value(values, s, i) for s in series) for i in range(n)]
    scale_ticks = ticks(max(totals, default=0))
    maximum = scale_ticks[-1]
    slot = frame.plot_width / n if n else frame.plot_width
    width = slot * bar_share
    bars = []
    for i in range(n):
        x = frame.left + slot * i + (slot - width) / 2
        bottom = frame.baseline
        for name in series:
            value = _value(values, name, i)
            if value <= 0:
                continue
            height = _scale(value, maximum, frame.plot_height)
            bottom -= height
            bars.append(Bar(_r(x), _r(bottom), _r(width), _r(height), name, i, value))
    y_ticks = [Tick(v, _r(frame.baseline - _scale(v, maximum, frame.plot_height)))
               for v in scale_ticks]
    labels = [Label(_r(frame.left + slot * i + slot / 2), text)
              for i, text in enumerate(categories) if i % max(1, label_every) == 0]
    return BarChart(frame, bars, y_ticks, labels, list(series), totals)


# --- a share of a whole -------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    key: str
    count: int
    share: float  # of the whole, 0..1
    x: float
    width: float


def share_bar(parts: Sequence[tuple[str, int]], width: float, left: float = 0) -> list[Part]:
    """One bar split into the parts of a whole, in the order given; empty parts drop out."""
    total = sum(count for _, count in parts)
    if total <= 0:
        return []
    laid, x = [], left
    for key, count in parts:
        if count <= 0:
            continue
        share = count / total
        laid.append(Part(key, count, share, _r(x), _r(share * width)))
        x += share * width
    return laid


# --- intervals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalRow:
    label: str
    mean: float  # 0..1
    low: float
    high: float
    note: str = ""  # e.g. "12 of 20 won"


@dataclass(frozen=True)
class Whisker:
    row: IntervalRow
    y: float  # the row's middle
    x_low: float
    x_mean: float
    x_high: float


@dataclass(frozen=True)
class IntervalChart:
    frame: Frame
    whiskers: list[Whisker]
    x_ticks: list[Tick]
    reference: Tick | None  # e.g. the department's average


def interval_chart(rows: Sequence[IntervalRow], *, width: float = 1000, row_height: float = 28,
                   left: float = 190, right: float = 170, reference: float | None = None
                   ) -> IntervalChart:
    """Rows of a rate between 0 and 1 with its interval: a whisker from low to high and a dot
    at the mean; the x axis in quarters; an optional reference line."""
    frame = Frame(width, 24 + 28 + row_height * max(1, len(rows)), left=left, right=right,
                  top=24, bottom=28)

    def x(value: float) -> float:
        return _r(frame.left + min(1.0, max(0.0, value)) * frame.plot_width)

    whiskers = [Whisker(row, _r(frame.top + row_height * i + row_height / 2), x(row.low),
                        x(row.mean), x(row.high)) for i, row in enumerate(rows)]
    x_ticks = [Tick(q, x(q)) for q in (0, 0.25, 0.5, 0.75, 1)]
    return IntervalChart(frame, whiskers, x_ticks,
                         Tick(reference, x(reference)) if reference is not None else None)
