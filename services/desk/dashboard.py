"""What the head of sales' dashboard shows, from the counts the database gives: pure, no I/O,
the clock passed in. Calls per hour by where they went, shopping-around alerts per day, the
share of the commercial leads the head keeps, the time from a call to its lead's assignee,
and the negotiators' win rates with their uncertainty."""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.desk.sales import Colleague, posterior
from shared.chances import Record, overall_average
from shared.events import Destination, Role, Strategy

# Where the calls went, in the order the bars stack; "deciding" for a call without a decision.
DESTINATIONS = [d.value for d in Destination] + ["deciding"]

# How the commercial department's leads got their assignee, in the order the bar shows them.
COMMERCIAL_STRATEGIES = [Strategy.HEAD_KEPT.value, Strategy.HEAD_ASSIGNED.value,
                         Strategy.STRONGEST_AVAILABLE.value]

# The buckets of the time from a call to its lead's assignee: (key, from, up to) seconds.
DELAY_BUCKETS: list[tuple[str, float, float]] = [
    ("under_1", 0, 60), ("1_5", 60, 300), ("5_10", 300, 600), ("10_30", 600, 1800),
    ("30_60", 1800, 3600), ("over_60", 3600, math.inf)]

# The credible interval shown around a win rate.
INTERVAL_MASS = 0.9


@dataclass(frozen=True)
class HourlyCalls:
    hours: list[datetime]  # local, the start of each hour, the oldest first
    by_destination: dict[str, list[int]]
    total: int

    @property
    def busiest(self) -> tuple[datetime, int] | None:
        totals = [sum(v[i] for v in self.by_destination.values()) for i in range(len(self.hours))]
        if not totals or max(totals) == 0:
            return None
        i = max(range(len(totals)), key=lambda k: (totals[k], k))
        return self.hours[i], totals[i]


def hourly_calls(rows: Iterable[tuple[datetime, str | None, int]], now_local: datetime,
                 hours: int = 24) -> HourlyCalls:
    """The calls of the last `hours` hours (the current one included) by destination; `rows`
    are (local hour, destination, count)."""
    last = now_local.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    slots = [last - timedelta(hours=hours - 1 - i) for i in range(hours)]
    index = {slot: i for i, slot in enumerate(slots)}
    counts = {d: [0] * hours for d in DESTINATIONS}
    for hour, destination, count in rows:
        i = index.get(hour.replace(tzinfo=None))
        if i is None:
            continue
        key = destination if destination in counts else "deciding"
        counts[key][i] += count
    return HourlyCalls(slots, counts, sum(sum(v) for v in counts.values()))


@dataclass(frozen=True)
class DailyCounts:
    days: list[date]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def daily_counts(rows: Iterable[tuple[date, int]], today: date, days: int = 14) -> DailyCounts:
    """Counts per day over the last `days` days, today included."""
    slots = [today - timedelta(days=days - 1 - i) for i in range(days)]
    found = dict(rows)
    return DailyCounts(slots, [found.get(day, 0) for day in slots])


@dataclass(frozen=True)
class KeptShare:
    parts: list[tuple[str, int]]  # (strategy, leads), in COMMERCIAL_STRATEGIES order

    @property
    def total(self) -> int:
        return sum(count for _, count in self.parts)

    @property
    def kept(self) -> float | None:
        """The share the head kept (at once or from the inbox); None without leads."""
        if not self.total:
            return None
        return dict(self.parts)[Strategy.HEAD_KEPT.value] / self.total


def kept_share(rows: Iterable[tuple[str, int]]) -> KeptShare:
    found = dict(rows)
    return KeptShare([(s, found.get(s, 0)) for s in COMMERCIAL_STRATEGIES])


@dataclass(frozen=True)
class Delays:
    buckets: list[tuple[str, int]]
    median_seconds: float | None

    @property
    def total(self) -> int:
        return sum(count for _, count in self.buckets)


def delays(seconds: Iterable[float]) -> Delays:
    """How long leads waited from the call to their assignee, in buckets, and the median."""
    values = [max(0.0, s) for s in seconds]
    buckets = [(key, sum(1 for v in values if low <= v < high))
               for key, low, high in DELAY_BUCKETS]
    return Delays(buckets, statistics.median(values) if values else None)


@dataclass(frozen=True)
class WinRate:
    employee_id: uuid.UUID
    name: str
    record: Record
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class WinRates:
    rates: list[WinRate]  # the likeliest to win first
    department: float  # the department's rate the estimates start from
    left_out: int  # negotiators with outcomes beyond the `limit` shown


def win_rates(colleagues: Sequence[Colleague], strength: float, *, limit: int = 15
              ) -> WinRates:
    """Each active negotiator's chance to win a lead, over all kinds of leads: the Beta
    posterior of their won and lost leads with the assignment's prior (the department's
    rate, worth `strength` outcomes), its mean and the interval holding 90% of it. Those with
    the most outcomes are shown (`limit`); a newcomer without any has nothing to show."""
    members = [c for c in colleagues if c.active]
    overall = sum((c.total for c in members), Record())
    department = overall_average(overall)
    negotiators = [c for c in members if c.role is Role.AGENT and c.total.closed]
    negotiators.sort(key=lambda c: (-c.total.closed, c.name, str(c.employee_id)))
    shown = negotiators[:limit]
    rates = []
    for c in shown:
        beta = posterior(c.total, department, strength)
        low, high = beta.interval(INTERVAL_MASS)
        rates.append(WinRate(c.employee_id, c.name, c.total, beta.mean, low, high))
    rates.sort(key=lambda r: (-r.mean, r.name))
    return WinRates(rates, department, len(negotiators) - len(shown))
