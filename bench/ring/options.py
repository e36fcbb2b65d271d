"""The options of one ring-time benchmark run: declared here once, and the
`switchboard ring-bench` command (switchboard/ring_bench.py) is built from these fields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.pipeline.options import option


@dataclass(frozen=True)
class Options:
    rates: str = option("10,50,100,200,400",
                        "Offered route requests per second, one measured part per rate "
                        "(comma-separated).")
    duration: float = option(15.0, "Seconds each rate is offered for.")
    clients: int = option(100_000, "Clients in the client base the callers are drawn from.")
    deadline_ms: int = option(
        800, "The intake's route deadline (SWITCHBOARD_INTAKE_ROUTE_DEADLINE_MS): past it "
             "the answer is the fallback.")
    grace_ms: int = option(
        50, "An answer 'within the deadline' arrives at most this long after it (the "
            "fallback is sent at the deadline, then written and read).")
    connections: int = option(
        1000, "Most HTTP connections the load generator keeps open (kept alive; more "
              "requests than that at once wait for one, and the wait counts).")
    timeout: float = option(5.0, "Seconds after which a request counts as timed out.")
    warmup: float = option(
        10.0, "Seconds of warm-up requests at 100/s to each endpoint before anything is "
              "measured (the broker's JIT, the pools, the connections).")
    reference: bool = option(
        True, "Also measure the reference: one FastAPI process answering from one "
              "asyncpg query (the floor of a synchronous design).")
    profile_rate: int | None = option(
        None, "Add a part at this rate with py-spy on the services and print where each "
              "spends its CPU.")
    assignment: bool = option(
        True, "Also run the assignment service: not on the answer's path, but it reads "
              "calls.routed and makes the owners' leads on the same machine, as in production.")
    stages: bool = option(
        False, "Also split the pipeline's decided answers into stages (intake, lookup, router, "
               "answer) from the Kafka timestamps of their events (a watcher reads three "
               "topics, on the machine it measures).")
    partitions: int = option(6, "Partitions of every topic.")
    fast_db: bool = option(False, "PostgreSQL without fsync (only for a database started here).")
    json: bool = option(False, "Print the figures as JSON.")
    root: Path = option(Path(".switchboard/ring-bench"),
                        "Folder of the benchmark's own Kafka, PostgreSQL and logs.")

    def rate_list(self) -> list[int]:
        """The rates, in the order given; a bad list stops the run before anything starts."""
        try:
            rates = [int(part) for part in self.rates.split(",") if part.strip()]
        except ValueError:
            raise SystemExit(f"--rates {self.rates!r}: expected whole numbers separated by "
                             "commas, e.g. 10,50,100") from None
        if not rates or any(r <= 0 for r in rates):
            raise SystemExit(f"--rates {self.rates!r}: expected positive rates")
        return rates
