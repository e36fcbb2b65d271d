"""Which commercial leads the head of sales keeps at once: pure functions, no I/O.

- When the commercial inflow over the last hour is low (below `low_volume_per_hour`), the head
  keeps every commercial lead: with few leads the strongest negotiator should work them all.
- Otherwise the head keeps the most lucrative ones: worth at least the threshold of their
  currency (`threshold`), or with an expected value among the top share of the recent leads
  of their currency (`top_share`), or none (`off`).
- Either way only while the head has room: the head keeps nothing beyond capacity. What the
  head does not keep waits in the head's inbox until the deadline, then goes to the strongest
  available negotiator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from services.assignment.strength import Negotiator
from shared import business

KeepMode = Literal["threshold", "top_share", "off"]


@dataclass(frozen=True)
class KeepRules:
    mode: KeepMode = "threshold"
    thresholds: Mapping[str, float] = field(  # currency -> deal value
        default_factory=lambda: dict(business.KEEP_THRESHOLDS))
    top_share: float = business.KEEP_TOP_SHARE
    low_volume_per_hour: int = business.LOW_VOLUME_PER_HOUR  # 0: the volume never decides


@dataclass(frozen=True)
class RecentFlow:
    """The recent commercial flow, as the keep rules need it."""

    inflow_last_hour: int = 0  # commercial leads that arrived within the hour before this one
    recent_expected_values: Sequence[float] = ()  # recent commercial leads of the same currency


@dataclass(frozen=True)
class Kept:
    head: Negotiator
    reason: str


def keeping_head(heads: Sequence[Negotiator]) -> Negotiator | None:
    """The head who keeps: of the available heads, the one with the most room."""
    available = [h for h in heads if h.available]
    if not available:
        return None
    return min(available, key=lambda h: (-h.room, h.load, h.email, str(h.employee_id)))


def why_keep(
    value: Decimal | None,
    currency: str | None,
    expected: float | None,
    flow: RecentFlow,
    rules: KeepRules,
) -> str | None:
    """Why the head should keep this lead, or None when it may be passed on."""
    if rules.low_volume_per_hour and flow.inflow_last_hour < rules.low_volume_per_hour:
        return (f"low volume: {flow.inflow_last_hour} commercial leads in the last hour "
                f"(under {rules.low_volume_per_hour}), the head takes them all")
    if rules.mode == "threshold" and value is not None and currency in rules.thresholds:
        threshold = rules.thresholds[currency]
        if float(value) >= threshold:
            return f"worth {value} {currency}, at least the threshold of {threshold:g} {currency}"
    if rules.mode == "top_share" and expected is not None and rules.top_share > 0:
        better = sum(1 for other in flow.recent_expected_values if other > expected)
        # This lead ranks `better + 1` among the recent ones and itself; the top share of
        # n leads is the best ceil(share x n) of them (so at least the best one).
        total = len(flow.recent_expected_values) + 1
        if better + 1 <= max(1, math.ceil(rules.top_share * total - 1e-9)):
            return (f"expected value {expected:,.0f} ranks {better + 1} of {total} recent "
                    f"leads: within the top {rules.top_share:.0%}")
    return None


def decide_keep(
    heads: Sequence[Negotiator],
    value: Decimal | None,
    currency: str | None,
    expected: float | None,
    flow: RecentFlow,
    rules: KeepRules,
) -> Kept | None:
    """The head keeps the lead when a keep rule says so and a head has room; else None (the
    lead goes to the inbox)."""
    reason = why_keep(value, currency, expected, flow, rules)
    if reason is None:
        return None
    head = keeping_head(heads)
    if head is None:
        return None
    return Kept(head, reason)
