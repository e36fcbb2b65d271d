"""The options of one desk benchmark run: declared here once, and the `switchboard desk-bench`
command (switchboard/desk_bench.py) is built from these fields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.pipeline.options import option


@dataclass(frozen=True)
class Options:
    browsers: int = option(
        200, "Simulated browsers: each a signed-in operator holding the operator page's event "
             "stream open (one connection each).")
    rate: float = option(50.0, "Calls per second the PBX sends, open loop.")
    duration: float = option(30.0, "Seconds of measured calls.")
    warmup: float = option(
        10.0, "Seconds of calls at the same rate before the measured ones (not measured; the "
              "load goes straight on into the measured part).")
    ring_seconds: float = option(
        10.0, "Seconds each call rings before the caller hangs up (the PBX's Hangup takes the "
              "card off the screens); 0: the calls ring on and their cards stay.")
    settle: float = option(
        15.0, "Seconds after the last measured call to wait for the cards still missing.")
    clients: int = option(
        10_000, "Clients in the client base (bench.ring's seed: 30% owned); the callers are "
                "its clients whose calls ring at the desk, and unknown numbers.")
    connect_timeout: float = option(
        300.0, "Seconds for all the browsers' pages and streams to open before the calls "
               "start (a browser not connected by then counts its cards as missing).")
    assignment: bool = option(
        True, "Also run the assignment service: not on the card's path, but it reads "
              "calls.routed on the same machine, as in production.")
    profile: bool = option(
        False, "py-spy on the services during the measured part; print where each spends "
               "its CPU.")
    partitions: int = option(6, "Partitions of every topic.")
    fast_db: bool = option(False, "PostgreSQL without fsync (only for a database started here).")
    json: bool = option(False, "Print the figures as JSON.")
    root: Path = option(Path(".switchboard/desk-bench"),
                        "Folder of the benchmark's own Kafka, PostgreSQL and logs.")

    def check(self) -> None:
        """A run that cannot measure anything stops before anything starts."""
        problems = [f"--{name.replace('_', '-')} {value!r}: {why}" for name, value, bad, why in (
            ("browsers", self.browsers, self.browsers < 1, "at least 1"),
            ("rate", self.rate, self.rate <= 0, "calls per second above 0"),
            ("duration", self.duration, self.duration <= 0, "seconds above 0"),
            ("warmup", self.warmup, self.warmup < 0, "seconds, 0 or more"),
            ("ring_seconds", self.ring_seconds, self.ring_seconds < 0, "seconds, 0 or more"),
            ("settle", self.settle, self.settle < 0, "seconds, 0 or more"),
            ("clients", self.clients, self.clients < 10, "at least 10"),
        ) if bad]
        if problems:
            raise SystemExit("; ".join(problems))

    def calls(self) -> tuple[int, int]:
        """(warm-up calls, measured calls) at --rate."""
        return round(self.rate * self.warmup), max(1, round(self.rate * self.duration))
