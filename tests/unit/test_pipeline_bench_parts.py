"""The pipeline benchmark's webhook intake and ring-time answer parts, and issue 16's targets:
their pure pieces, on sample figures (a mistake there would only show at the end of a run of
several minutes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bench.pipeline import report as pipeline_report
from bench.pipeline.options import Options
from bench.pipeline.webhooks import CONNECTOR, Posted, signed_headers, summarise_posts
from services.intake.signing import verify_switchboard

RUN = json.loads((Path(__file__).parent / "data" / "bench-run.json").read_text())
FINAL, ROUTED = "bench.hop4", "calls.routed"


def verdict(run: dict) -> dict:
    return pipeline_report.verdict(run, FINAL, ROUTED, ROUTED)[1]["issue_16"]


def test_a_webhook_is_signed_as_the_intake_checks_it():
    body = b'{"pbx": "bench", "call_id": "x-000001"}'
    headers = signed_headers("s3cret", body, 1_700_000_000.7)
    assert headers["x-switchboard-connector"] == CONNECTOR
    assert headers["x-switchboard-timestamp"] == "1700000000"
    assert verify_switchboard("s3cret", headers["x-switchboard-timestamp"],
                              headers["x-switchboard-signature"], body, 1_700_000_001) is None
    assert verify_switchboard("other", headers["x-switchboard-timestamp"],
                              headers["x-switchboard-signature"], body,
                              1_700_000_001) == "bad signature"


def test_webhook_figures_count_2xx_as_accepted_and_the_rest_as_errors_by_status():
    posted = [Posted(b"a", 10.0, 10.02, 202), Posted(b"b", 10.0, 10.04, 202),
              Posted(b"c", 10.01, 10.5, 503), Posted(b"d", 10.02, 20.0, None, "ReadTimeout"),
              Posted(b"e", 10.5, 11.0, 202), Posted(b"f", 10.6, 10.7, 401)]
    figures = summarise_posts(posted)
    assert (figures["requests"], figures["accepted"]) == (6, 3)
    assert figures["accepted_per_s"] == 3.0  # 3 accepted from the first send to the last 2xx
    assert figures["errors"] == {"HTTP 401": 1, "HTTP 503": 1, "ReadTimeout": 1}
    assert figures["error_count"] == 3
    # the answer time of every answered request; the timed-out one has no answer
    assert figures["answer_ms"]["count"] == 5 and figures["answer_ms"]["max_ms"] == 500.0


def test_no_request_makes_no_rate():
    assert summarise_posts([])["accepted_per_s"] is None
    assert summarise_posts([Posted(b"a", 1.0, 2.0, 500)])["accepted_per_s"] is None


@pytest.mark.parametrize(("rates", "expected"), [("10,100", [10, 100]), ("5", [5]),
                                                 (" 10, 50 ,", [10, 50])])
def test_ring_rates_are_read_in_order(rates, expected):
    assert Options(ring_rates=rates).ring_rate_list() == expected


@pytest.mark.parametrize("rates", ["ten", "10,0", ""])
def test_a_bad_ring_rate_list_stops_the_run(rates):
    with pytest.raises(SystemExit, match="--ring-rates"):
        Options(ring_rates=rates).ring_rate_list()


def test_issue_16_targets_follow_the_figures():
    run = copy.deepcopy(RUN)
    targets = verdict(run)
    assert run["webhook"]["http"]["error_count"] == 0
    assert targets["webhook"]["met"] is (run["webhook"]["http"]["accepted_per_s"] >= 1000)
    assert targets["pipeline"]["calls_per_s"] == run["pipeline"]["max"]["throughput"]
    assert not targets["pipeline"]["met"]  # the fixture's run: 188.9 calls/s

    run["pipeline"]["max"]["throughput"] = 2000.0
    run["webhook"]["http"]["accepted_per_s"] = 1000.0
    ring = run["ring"]["parts"]
    ring["10"]["answer_ms"]["p50_ms"], ring["100"]["answer_ms"]["p99_ms"] = 20.0, 50.0
    ring["10"]["fallback"] = ring["100"]["fallback"] = 0
    ring["10"]["error_count"] = ring["100"]["error_count"] = 0
    ring["10"]["wrong"] = ring["100"]["wrong"] = 0
    targets = verdict(run)
    assert all(t["met"] for t in targets.values()), targets

    # the pipeline lost a call; a webhook failed; a webhook call was never decided;
    # a low-load answer was a fallback; a high-load answer was wrong
    for change, missed in [
            (lambda r: r["pipeline"]["max"].update(complete=False), "pipeline"),
            (lambda r: r["webhook"]["http"].update(error_count=1), "webhook"),
            (lambda r: r["webhook"]["topics"][ROUTED].update(missing=1), "webhook"),
            (lambda r: r["ring"]["parts"]["10"].update(fallback=1), "ring_p50_at_10"),
            (lambda r: r["ring"]["parts"]["100"].update(wrong=1), "ring_p99_at_100"),
            (lambda r: r["ring"]["parts"]["100"]["answer_ms"].update(p99_ms=50.1),
             "ring_p99_at_100")]:
        changed = copy.deepcopy(run)
        change(changed)
        targets = verdict(changed)
        assert [k for k, t in targets.items() if not t["met"]] == [missed]


def test_parts_left_out_are_not_measured_targets():
    run = copy.deepcopy(RUN)
    del run["webhook"], run["ring"]["parts"]["100"]
    targets = verdict(run)
    assert not targets["webhook"]["measured"] and "met" not in targets["webhook"]
    assert targets["ring_p50_at_10"]["measured"]
    assert not targets["ring_p99_at_100"]["measured"]
    run["ratios"], run["targets"] = pipeline_report.verdict(run, FINAL, ROUTED, ROUTED)
    text = pipeline_report.report(run)
    assert text.count("not measured (part left out)") == 2


def test_the_report_prints_the_webhook_and_ring_figures_and_issue_16s_targets():
    run = copy.deepcopy(RUN)
    run["ratios"], run["targets"] = pipeline_report.verdict(run, FINAL, ROUTED, ROUTED)
    text = pipeline_report.report(run)
    http = run["webhook"]["http"]
    assert f"accepted (2xx): {http['accepted']} of {http['requests']}; errors: none" in text
    assert "ring-time answers: GET /v1/route/asterisk" in text
    assert "ring-time answers 10/s" in text and "ring-time answers 100/s" in text  # CPU rows
    assert "webhook intake " in text
    assert "issue 16 (batching), on this machine:" in text
    assert "MISSED pipeline max >= 2,000 calls/s" in text
    ratio = run["ratios"]["pipeline_over_batch_throughput"]
    assert f"pipeline / batch chain: throughput {ratio:.3f}" in text
    assert run["ratios"]["pipeline_over_batch_throughput"] == round(
        run["pipeline"]["max"]["throughput"] / run["references"]["batch"]["max"]["throughput"],
        4)


def test_the_report_prints_the_ring_time_stages_when_they_were_timed():
    run = copy.deepcopy(RUN)
    run["ring"]["parts"]["10"]["stages_ms"] = {
        "intake, to calls.received": {"count": 150, "p50_ms": 3.1, "p99_ms": 9.0},
        "lookup, to calls.enriched": {"count": 150, "p50_ms": 11.2, "p99_ms": 20.5}}
    run["ratios"], run["targets"] = pipeline_report.verdict(run, FINAL, ROUTED, ROUTED)
    text = pipeline_report.report(run)
    assert text.count("decided answers' stages") == 1
    assert "intake, to calls.received 3.1 / 9.0; lookup, to calls.enriched 11.2 / 20.5" in text


def test_the_report_prints_the_webhook_profile_beside_the_pipeline_one():
    run = copy.deepcopy(RUN)
    summary = {"samples": 100, "cpu_s_sampled": 1.0, "cpu_s_psutil": 1.1,
               "categories_pct": {"pydantic": 40.0, "Prometheus": 0.5},
               "top_charged": [["BaseModel.model_validate_json (pydantic/main.py)", 38.0]]}
    run["profile"] = {"run": {"throughput": 600.0, "seconds": 8.3}, "rate_hz": 100,
                      "folder": "/p", "services": {"router": summary},
                      "webhook": {"run": {"throughput": 300.0, "seconds": 16.6,
                                          "accepted_per_s": 310.0},
                                  "rate_hz": 100, "folder": "/p/webhook",
                                  "services": {"intake": summary}}}
    run["ratios"], run["targets"] = pipeline_report.verdict(run, FINAL, ROUTED, ROUTED)
    text = pipeline_report.report(run)
    assert "pipeline under py-spy: 600.0 calls/s" in text
    assert "profile of the webhook intake (accepted under py-spy: 310.0 calls/s)" in text
    assert "  router (1.0 CPU s sampled, psutil 1.1 s): pydantic 40.0%" in text
    assert "  intake (1.0 CPU s sampled" in text and "Prometheus 0.5%" not in text
    assert "--profile adds a run" not in text  # the profile is there
