"""The benchmark's verdict and report, on the figures of a real run (tests/unit/data): a
mistake there would only show at the end of a ten-minute run."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bench.pipeline import report as pipeline_report

RUN = json.loads((Path(__file__).parent / "data" / "bench-run.json").read_text())
FINAL, ROUTED, ASSIGNED = "bench.hop4", "calls.routed", "leads.assigned"


@pytest.fixture
def bench():
    return pipeline_report


def test_ratios_and_targets_follow_the_figures(bench):
    run = copy.deepcopy(RUN)
    ratios, targets = bench.verdict(run, FINAL, ROUTED, ASSIGNED)
    base, pipe = run["baseline"]["max"]["throughput"], run["pipeline"]["max"]["throughput"]
    assert ratios["throughput"] == round(pipe / base, 3)
    assert ratios["faststream_over_baseline_throughput"] == round(
        run["references"]["faststream"]["max"]["throughput"] / base, 3)
    limit = 2 * (run["baseline"]["half"]["topics"][FINAL]["latency"]["p99_ms"]
                 + run["lookup"]["latency"]["p99_ms"])
    assert targets["latency"]["limit_ms"] == round(limit, 2)
    assert not targets["throughput"]["met"] and not targets["latency"]["met"]

    # A pipeline at half the baseline and within the latency limit meets both
    run["pipeline"]["max"]["throughput"] = base / 2
    run["pipeline"]["half"]["topics"][ASSIGNED]["latency"]["p99_ms"] = limit
    _, targets = bench.verdict(run, FINAL, ROUTED, ASSIGNED)
    assert targets["throughput"]["met"] and targets["latency"]["met"]
    # ... but not when a call went missing
    run["pipeline"]["half"]["complete"] = False
    _, targets = bench.verdict(run, FINAL, ROUTED, ASSIGNED)
    assert not targets["latency"]["met"]


@pytest.mark.parametrize("references", [True, False])
def test_the_report_prints_every_run(bench, references):
    run = copy.deepcopy(RUN)
    if not references:
        del run["references"]
    run["ratios"], run["targets"] = bench.verdict(run, FINAL, ROUTED, ASSIGNED)
    text = bench.report(run)
    assert f"{run['baseline']['max']['throughput']:.1f}" in text
    assert f"{run['pipeline']['max']['throughput']}" in text
    assert text.count("target MISSED") == 2
    assert ("FastStream subscribers passing the bytes on" in text) is references
    assert ("faststream chain / baseline" in text) is references
