"""The intake's own Prometheus counters."""

from prometheus_client import Counter, Histogram

IGNORED = Counter("switchboard_intake_ignored_events",
                  "PBX events that are neither a call start nor an answer or hang-up",
                  ["dialect", "kind"])

ROUTE_ANSWERS = Counter(
    "switchboard_route_answers",
    "Answers to PBXs asking whom to ring: decided (the router's decision in time) or fallback "
    "(the desk, at the deadline)",
    ["dialect", "outcome"])

ROUTE_ANSWER_SECONDS = Histogram(
    "switchboard_route_answer_seconds",
    "Time from a route request to its answer",
    ["dialect"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 3.0))
