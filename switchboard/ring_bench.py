"""`switchboard ring-bench`: the ring-time benchmark of bench/ring (see its docstring and the
README's "Ring-time benchmark" section). The command's options are the fields of
`bench.ring.options.Options`: `--<field with dashes>`, and `--<field>/--no-<field>` for a
flag."""

from __future__ import annotations

from typing import Any

from bench.ring.options import Options
from switchboard.bench import options_as_parameters, run_benchmark


def ring_bench_command(**values: Any) -> None:
    """Benchmark ring-time call control: route requests (Asterisk GET, basic auth) at fixed
    rates, open loop, against the intake on the full pipeline and against a one-query
    FastAPI reference, on one broker and one database (its own under .switchboard/ring-bench
    unless SWITCHBOARD_KAFKA_BOOTSTRAP / SWITCHBOARD_DATABASE_URL name them); prints per rate
    the answer times p50/p99/p99.9, decided / fallback / errors, CPU per request and whether
    the targets are met."""
    from bench.ring.runner import execute

    run_benchmark(execute, Options(**values))


ring_bench_command.__signature__ = options_as_parameters(Options)  # type: ignore[attr-defined]
