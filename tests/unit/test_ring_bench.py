"""The ring-time benchmark's figures, verdict and report, on sample answers: a mistake there
would only show at the end of a run of several minutes."""

from __future__ import annotations

import copy
import random

import pytest

from bench.pipeline.client_base import bench_rules
from bench.ring.client_base import Desks, RingBase
from bench.ring.load import DIAL, Answer, Ask, make_asks
from bench.ring.options import Options
from bench.ring.report import FALLBACK, TARGET_LOAD_RATE, TARGET_P99_RATE, report, summarise, verdict

DEADLINE_MS, GRACE_MS = 800, 50
DESKS = Desks({"client_department": "700", "commercial_department": "800"},
              {"individual": "client_department", "small_business": "client_department",
               "corporate": "client_department", "large_corporate": "commercial_department"})


def ask(n: int, kind: str = "owned", expected: str = "PJSIP/517001") -> Ask:
    return Ask(f"call-{n}", f"+7919170{n:04d}", kind, expected)


def answered(due: float, ms: float, text: str, status: int | None = 200,
             error: str | None = None) -> Answer:
    return Answer(due, due + 0.001, due + ms / 1000, status, text, error)


def part(p99_ms: float, fallback: int = 0, errors: int = 0, wrong: int = 0,
         over_deadline: int = 0, max_ms: float | None = None) -> dict:
    return {"rate": 0, "requests": 100, "offered_per_s": 100.0, "achieved_per_s": 100.0,
            "answer_ms": {"count": 100, "p50_ms": p99_ms / 2, "p99_ms": p99_ms,
                          "p999_ms": p99_ms, "max_ms": max_ms or p99_ms, "mean_ms": p99_ms / 2},
            "send_lag_ms": {"p99": 0.5, "max": 1.0}, "decided": 100 - fallback - wrong - errors,
            "fallback": fallback, "wrong": wrong, "errors": {"timeout": errors} if errors else {},
            "error_count": errors, "over_deadline": over_deadline, "by_kind": {},
            "load_average": [1.5, 1.2, 1.0]}


def result(pipeline: dict[str, dict], reference: dict[str, dict] | None = None) -> dict:
    rates = sorted({int(r) for r in pipeline} | {int(r) for r in reference or {}})
    found = {"config": {"rates": rates, "duration": 15.0, "clients": 100_000, "owned_share": 0.3,
                        "unknown_share": 0.1, "deadline_ms": DEADLINE_MS, "grace_ms": GRACE_MS},
             "machine": {"cpus": 2, "cpu_model": "test", "load_average_at_start": [1, 1, 1]},
             "parts": {"pipeline": pipeline}}
    if reference is not None:
        found["parts"]["reference"] = reference
    return found


def test_answers_are_decided_fallback_wrong_or_errors_and_timed_from_when_they_were_due():
    asks = [ask(0), ask(1), ask(2), ask(3), ask(4, "unknown", "PJSIP/700")]
    answers = [answered(10.0, 20, "PJSIP/517001"), answered(10.01, 805, FALLBACK),
               answered(10.02, 30, "PJSIP/700"),
               answered(10.03, 5000, "", status=None, error="timeout"),
               answered(10.04, 900, "PJSIP/700")]
    summary = summarise(asks, answers, 100, DEADLINE_MS, GRACE_MS)
    assert (summary["decided"], summary["fallback"], summary["wrong"]) == (2, 1, 1)
    assert summary["errors"] == {"timeout": 1} and summary["error_count"] == 1
    assert summary["answer_ms"]["count"] == 4 and summary["answer_ms"]["max_ms"] == 900
    assert summary["over_deadline"] == 1  # 900 ms; the fallback at 805 is within 800 + 50
    assert summary["by_kind"] == {"owned": {"decided": 1, "fallback": 1, "wrong": 1,
                                            "error": 1}, "unknown": {"decided": 1}}
    assert summary["send_lag_ms"]["max"] == 1.0
    assert summary["offered_per_s"] == 100.0


def test_a_non_200_answer_is_an_error_named_by_its_status():
    summary = summarise([ask(0)], [answered(1.0, 3, "no", status=503)], 10, DEADLINE_MS,
                        GRACE_MS)
    assert summary["errors"] == {"HTTP 503": 1} and summary["answer_ms"] == {"count": 0}


def test_the_targets_follow_the_figures():
    p99_rate, load_rate = str(TARGET_P99_RATE), str(TARGET_LOAD_RATE)
    run = result({p99_rate: part(40.0), load_rate: part(810.0, fallback=60, max_ms=840.0)},
                 {p99_rate: part(5.0), load_rate: part(9.0)})
    targets = verdict(run)
    assert targets["pipeline"]["latency"]["met"] and targets["pipeline"]["load"]["met"]
    assert targets["reference"]["latency"]["met"] and targets["reference"]["load"]["met"]

    slow = copy.deepcopy(run)
    slow["parts"]["pipeline"][p99_rate] = part(51.0)
    assert not verdict(slow)["pipeline"]["latency"]["met"]
    one_fallback = copy.deepcopy(run)
    one_fallback["parts"]["pipeline"][p99_rate] = part(20.0, fallback=1)
    assert not verdict(one_fallback)["pipeline"]["latency"]["met"]
    late = copy.deepcopy(run)
    late["parts"]["pipeline"][load_rate] = part(900.0, over_deadline=3)
    assert not verdict(late)["pipeline"]["load"]["met"]
    for failure in ({"errors": 1}, {"wrong": 1}):
        failing = copy.deepcopy(run)
        failing["parts"]["pipeline"][load_rate] = part(30.0, **failure)
        assert not verdict(failing)["pipeline"]["load"]["met"]


def test_a_target_whose_rate_was_not_run_is_not_measured():
    run = result({"10": part(20.0)})
    run["targets"] = verdict(run)
    assert run["targets"]["pipeline"]["latency"]["measured"] is False
    assert "met" not in run["targets"]["pipeline"]["latency"]
    assert "reference" not in run["targets"]
    assert report(run).count("not measured (rate not run)") == 2


def test_the_report_prints_every_part_and_every_target():
    run = result({"100": part(70.0, fallback=2), "400": part(2000.0, errors=5, over_deadline=9)},
                 {"100": part(4.0), "400": part(8.0)})
    run["parts"]["pipeline"]["100"]["intake_counted"] = {"decided": 97, "fallback": 3}
    run["parts"]["pipeline"]["100"]["stages_ms"] = {
        "lookup, to calls.enriched": {"count": 98, "p50_ms": 6.0, "p99_ms": 41.5}}
    run["targets"] = verdict(run)
    text = report(run)
    for label in ("pipeline 100/s", "reference 100/s", "pipeline 400/s", "reference 400/s"):
        assert label in text
    assert text.count("target MISSED pipeline") == 2 and text.count("target MET    reference") == 2
    assert "errors: timeout 5" in text
    assert "the intake counted decided 97, fallback 3" in text  # differs from the answers
    assert "pipeline 100/s     lookup, to calls.enriched 6.0 / 41.5" in text

    run["parts"]["pipeline"]["400"]["intake_counted"] = None  # its /metrics did not answer
    assert "the intake's /metrics did not answer" in report(run)


def test_each_caller_expects_the_owner_or_the_desk_of_the_segment(tmp_path):
    desks = Desks.from_rules(bench_rules(tmp_path))
    assert desks == DESKS
    base = RingBase("17", 100_000, desks)
    assert base.phone(42) == "+79191700042" and len(base.phone(99_999)) == 12
    assert base.owned(0) and base.owned(2) and not base.owned(3)
    assert base.expected(0) == "517000"  # client 0: owned by negotiator 0
    assert base.expected(33) == "800"  # unowned, large_corporate: the commercial desk
    assert base.expected(3) == "700"  # unowned, individual: the client department desk
    asks = make_asks("t", 2000, base, random.Random(1))
    kinds = {a.kind for a in asks}
    assert kinds == {"owned", "known", "unknown"}
    assert all(a.expected == DIAL.format(extension="700") for a in asks if a.kind == "unknown")
    assert 0.2 < sum(a.kind == "owned" for a in asks) / len(asks) < 0.35


@pytest.mark.parametrize("rates, parsed", [("10,50, 100", [10, 50, 100]), ("400", [400])])
def test_rates_are_a_comma_separated_list(rates, parsed):
    assert Options(rates=rates).rate_list() == parsed


@pytest.mark.parametrize("rates", ["", "10,x", "0,10"])
def test_a_bad_rate_list_stops_the_run(rates):
    with pytest.raises(SystemExit):
        Options(rates=rates).rate_list()
