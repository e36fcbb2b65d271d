"""`switchboard desk-bench`: the desk's live-event benchmark of bench/desk (see its docstring and
the README's "The desk's live-event benchmark" section). The command's options are the fields
of `bench.desk.options.Options`: `--<field with dashes>`, and `--<field>/--no-<field>` for a
flag."""

from __future__ import annotations

from typing import Any

from bench.desk.options import Options
from switchboard.bench import options_as_parameters, run_benchmark


def desk_bench_command(**values: Any) -> None:
    """Benchmark the desk's live events: simulated browsers (signed-in operators) hold the
    operator page's event stream open while calls ring at the desk, open loop, through the
    intake's PBX endpoint (Asterisk events, signed), on one broker and one database (its own
    under .switchboard/desk-bench unless SWITCHBOARD_KAFKA_BOOTSTRAP / SWITCHBOARD_DATABASE_URL
    name them); prints the card events expected, received and missing, the latency from the
    PBX event to the card at the browser p50/p95/p99/max, CPU per process, and whether
    p99 <= 1 s held."""
    from bench.desk.runner import execute

    run_benchmark(execute, Options(**values))


desk_bench_command.__signature__ = options_as_parameters(Options)  # type: ignore[attr-defined]
