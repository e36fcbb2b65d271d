"""`python bench/pipeline_bench.py [options]`: `switchboard bench` as a script. The benchmark
is the package bench/pipeline (see its docstring and the README's "Benchmark" section)."""

import typer

from switchboard.bench import bench_command

if __name__ == "__main__":
    typer.run(bench_command)
