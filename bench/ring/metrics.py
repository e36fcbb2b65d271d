"""The intake's own count of its ring-time answers, read from its /metrics before and after
each part: `switchboard_route_answers_total{dialect, outcome}`."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

ANSWERS = "switchboard_route_answers"


def route_answers(intake_url: str, dialect: str = "asterisk") -> dict[str, float] | None:
    """outcome (decided, fallback) -> answers so far; None when the intake does not answer
    (overloaded: its backlog still being worked off)."""
    try:
        text = httpx.get(f"{intake_url}/metrics", timeout=30).text
    except httpx.HTTPError:
        return None
    counted: dict[str, float] = {"decided": 0.0, "fallback": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name != ANSWERS:
            continue
        for sample in family.samples:
            if sample.name == f"{ANSWERS}_total" and sample.labels.get("dialect") == dialect:
                counted[sample.labels["outcome"]] = sample.value
    return counted


def answered_between(before: dict[str, float] | None, after: dict[str, float] | None
                     ) -> dict[str, int] | None:
    if before is None or after is None:
        return None
    return {outcome: int(after.get(outcome, 0) - before.get(outcome, 0))
            for outcome in sorted(set(before) | set(after))}
