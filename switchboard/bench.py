"""`switchboard bench`: the pipeline benchmark of bench/pipeline_bench.py (see its docstring
and the README's "Benchmark" section)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from switchboard.infra import REPO_ROOT

BENCH = REPO_ROOT / "bench" / "pipeline_bench.py"


def load_bench() -> ModuleType:
    """bench/ is a folder of scripts, not a package: load the benchmark from its file."""
    if not BENCH.exists():
        raise typer.BadParameter(f"{BENCH} is missing: `switchboard bench` runs from a clone")
    spec = importlib.util.spec_from_file_location("switchboard_pipeline_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def bench_command(
    calls: Annotated[int, typer.Option(help="Calls per measured run.")] = 5000,
    partitions: Annotated[int, typer.Option(help="Partitions of every topic.")] = 6,
    json_output: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")
                           ] = False,
    root: Annotated[Path, typer.Option(
        help="Folder of the benchmark's own Kafka, PostgreSQL and logs.")] = Path(
        ".switchboard/bench"),
    lookup_concurrency: Annotated[int, typer.Option(
        help="Concurrency of the bare look-up loop (the lookup service: 1).")] = 1,
    warmup: Annotated[int, typer.Option(help="Warm-up calls before each part.")] = 1000,
    profile: Annotated[bool, typer.Option(
        help="Add a pipeline run under py-spy and print where the services spend CPU.")
                       ] = False,
    compare_log_level: Annotated[bool, typer.Option(
        help="Add a max-rate pipeline run with the services at log level WARNING.")] = False,
    fast_db: Annotated[bool, typer.Option(
        help="PostgreSQL without fsync (only for a database started here).")] = False,
    coordinator_linger_ms: Annotated[int | None, typer.Option(
        help="Start the broker with this group.coordinator.append.linger.ms (Kafka's "
             "default: 5), to see what the offset commits cost.")] = None,
    stages: Annotated[bool, typer.Option(
        help="Also time calls.received and calls.enriched (the watcher then reads four "
             "topics and takes more of the machine).")] = False,
    references: Annotated[bool, typer.Option(
        help="Add the reference chains: the baseline's hops taking whole fetched batches, "
             "and as FastStream subscribers without logic.")] = True,
) -> None:
    """Benchmark the pipeline against a raw aiokafka chain of four hops and the bare database
    look-up, on one broker and one database (its own under .switchboard/bench unless
    SWITCHBOARD_KAFKA_BOOTSTRAP / SWITCHBOARD_DATABASE_URL name them); prints calls/s, latency
    p50/p99/p99.9, CPU per 1,000 calls and whether the targets are met."""
    bench = load_bench()
    options = bench.Options(
        calls=calls, partitions=partitions, json=json_output, root=root,
        lookup_concurrency=lookup_concurrency, warmup=warmup, profile=profile,
        compare_log_level=compare_log_level, fast_db=fast_db,
        coordinator_linger_ms=coordinator_linger_ms, stages=stages,
        references=references)
    try:
        code = bench.execute(options)
    except KeyboardInterrupt:
        typer.echo("interrupted; everything the benchmark started is stopped", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(code)
