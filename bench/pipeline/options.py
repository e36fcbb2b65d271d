"""The options of one benchmark run: declared here once, and the `switchboard bench` command
(switchboard/bench.py) is built from these fields (name, type, default, help)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def option(default: Any, help: str) -> Any:
    """A field that is also a command-line option `--<name with dashes>`."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Options:
    calls: int = option(5000, "Calls per measured run.")
    partitions: int = option(6, "Partitions of every topic.")
    json: bool = option(False, "Print the figures as JSON.")
    root: Path = option(Path(".switchboard/bench"),
                        "Folder of the benchmark's own Kafka, PostgreSQL and logs.")
    lookup_concurrency: int = option(
        1, "Concurrency of the bare look-up loop (the lookup service: 1).")
    warmup: int = option(1000, "Warm-up calls before each part.")
    profile: bool = option(
        False, "Add a pipeline run under py-spy (and a webhook intake run, unless "
               "--no-webhooks) and print where the services spend CPU.")
    compare_log_level: bool = option(
        False, "Add a max-rate pipeline run with the services at log level WARNING.")
    fast_db: bool = option(False, "PostgreSQL without fsync (only for a database started here).")
    coordinator_linger_ms: int | None = option(
        None, "Start the broker with this group.coordinator.append.linger.ms (Kafka's "
              "default: 5), to see what the offset commits cost.")
    stages: bool = option(
        False, "Also time calls.received and calls.enriched (the watcher then reads four "
               "topics and takes more of the machine), and split the ring-time answers "
               "into stages (intake, lookup, router, answer).")
    references: bool = option(
        True, "Add the reference chains: the baseline's hops taking whole fetched batches, "
              "and as FastStream subscribers without logic.")
    stall_timeout: float = option(
        120.0, "Seconds without progress after which a part stops waiting for its calls.")
    webhooks: bool = option(
        True, "Add the webhook intake: --calls calls through the intake's POST "
              "/v1/pbx/generic, signed as a connector signs them, by a closed loop of "
              "--webhook-connections kept-alive connections.")
    webhook_connections: int = option(
        100, "Concurrent HTTP connections of the webhook intake's closed loop (each sends "
             "its next call when its last one is answered).")
    ring: bool = option(
        True, "Add the ring-time answers: GET /v1/route/asterisk at each of --ring-rates, "
              "open loop, to the intake of the same stack.")
    ring_rates: str = option(
        "10,100", "Offered route requests per second of the ring-time answers, one part per "
                  "rate (comma-separated).")
    ring_duration: float = option(15.0, "Seconds each ring-time rate is offered for.")
    ring_clients: int = option(
        100_000, "Clients of the ring-time answers' client base (bench/ring's, seeded into "
                 "the same database beside the pipeline's 400).")

    def ring_rate_list(self) -> list[int]:
        """The ring-time rates, in the order given; a bad list stops the run before
        anything starts."""
        try:
            rates = [int(part) for part in self.ring_rates.split(",") if part.strip()]
        except ValueError:
            raise SystemExit(f"--ring-rates {self.ring_rates!r}: expected whole numbers "
                             "separated by commas, e.g. 10,100") from None
        if self.ring and (not rates or any(r <= 0 for r in rates)):
            raise SystemExit(f"--ring-rates {self.ring_rates!r}: expected positive rates")
        return rates
