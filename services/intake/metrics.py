"""The intake's own Prometheus counters."""

from prometheus_client import Counter

IGNORED = Counter("switchboard_intake_ignored_events",
                  "PBX events that are neither a call start nor an answer or hang-up",
                  ["dialect", "kind"])
