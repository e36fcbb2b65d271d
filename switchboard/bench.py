"""`switchboard bench`: the pipeline benchmark of bench/pipeline (see its docstring and the
README's "Benchmark" section). The command's options are the fields of
`bench.pipeline.options.Options`: `--<field with dashes>`, and `--<field>/--no-<field>` for a
flag."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from bench.pipeline.options import Options


def bench_command(**values: Any) -> None:
    """Benchmark the pipeline against a raw aiokafka chain of four hops and the bare database
    look-up, on one broker and one database (its own under .switchboard/bench unless
    SWITCHBOARD_KAFKA_BOOTSTRAP / SWITCHBOARD_DATABASE_URL name them); prints calls/s, latency
    p50/p99/p99.9, CPU per 1,000 calls and whether the targets are met."""
    from bench.pipeline.runner import execute

    run_benchmark(execute, Options(**values))


def run_benchmark(execute: Callable[[Any], int], options: Any) -> None:
    """Runs a benchmark and exits with its code; Ctrl-C says the clean-up was done."""
    try:
        code = execute(options)
    except KeyboardInterrupt:
        typer.echo("interrupted; everything the benchmark started is stopped", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def options_as_parameters(options: type) -> inspect.Signature:
    """A command's signature from an options dataclass: typer reads a command's options from
    its signature, each field's help from its metadata."""
    hints = typing.get_type_hints(options)
    return inspect.Signature([
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=Annotated[hints[f.name],
                                               typer.Option(help=f.metadata["help"])])
        for f in dataclasses.fields(options)])


bench_command.__signature__ = options_as_parameters(Options)  # type: ignore[attr-defined]
