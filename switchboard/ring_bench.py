"""`switchboard ring-bench`: the ring-time benchmark of bench/ring (see its docstring and the
README's "Ring-time benchmark" section). The command's options are the fields of
`bench.ring.options.Options`: `--<field with dashes>`, and `--<field>/--no-<field>` for a
flag."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Annotated, Any

import typer

from bench.ring.options import Options


def ring_bench_command(**values: Any) -> None:
    """Benchmark ring-time call control: route requests (Asterisk GET, basic auth) at fixed
    rates, open loop, against the intake on the full pipeline and against a one-query
    FastAPI reference, on one broker and one database (its own under .switchboard/ring-bench
    unless SWITCHBOARD_KAFKA_BOOTSTRAP / SWITCHBOARD_DATABASE_URL name them); prints per rate
    the answer times p50/p99/p99.9, decided / fallback / errors, CPU per request and whether
    the targets are met."""
    from bench.ring.runner import execute

    try:
        code = execute(Options(**values))
    except KeyboardInterrupt:
        typer.echo("interrupted; everything the benchmark started is stopped", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def _options_as_parameters() -> inspect.Signature:
    hints = typing.get_type_hints(Options)
    return inspect.Signature([
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                          annotation=Annotated[hints[f.name],
                                               typer.Option(help=f.metadata["help"])])
        for f in dataclasses.fields(Options)])


# typer reads a command's options from its signature
ring_bench_command.__signature__ = _options_as_parameters()  # type: ignore[attr-defined]
