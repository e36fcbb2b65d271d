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
        False, "Add a pipeline run under py-spy and print where the services spend CPU.")
    compare_log_level: bool = option(
        False, "Add a max-rate pipeline run with the services at log level WARNING.")
    fast_db: bool = option(False, "PostgreSQL without fsync (only for a database started here).")
    coordinator_linger_ms: int | None = option(
        None, "Start the broker with this group.coordinator.append.linger.ms (Kafka's "
              "default: 5), to see what the offset commits cost.")
    stages: bool = option(
        False, "Also time calls.received and calls.enriched (the watcher then reads four "
               "topics and takes more of the machine).")
    references: bool = option(
        True, "Add the reference chains: the baseline's hops taking whole fetched batches, "
              "and as FastStream subscribers without logic.")
    stall_timeout: float = option(
        120.0, "Seconds without progress after which a part stops waiting for its calls.")
