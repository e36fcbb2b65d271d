"""The figures of one measured part (answer times, decided / fallback / wrong / errors), the
verdict against the ring-time targets, and the report the command prints."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.pipeline.profiling import profile_lines
from bench.pipeline.watch import latency_summary, percentile
from bench.ring.load import DIAL, Answer, Ask

FALLBACK_EXTENSION = "790"  # the intake's fallback here: unlike every desk and owner
FALLBACK = DIAL.format(extension=FALLBACK_EXTENSION)

# The targets: p99 within TARGET_P99_MS at TARGET_P99_RATE calls/s with no fallback; at
# TARGET_LOAD_RATE calls/s no error and every answer within the deadline.
TARGET_P99_RATE, TARGET_P99_MS = 100, 50.0
TARGET_LOAD_RATE = 400
SYSTEMS = ("pipeline", "reference")
CPU_GROUPS = ("intake", "lookup", "router", "assignment", "reference", "broker", "database",
              "bench")


def summarise(asks: list[Ask], answers: list[Answer], rate: float, deadline_ms: float,
              grace_ms: float) -> dict[str, Any]:
    """One part's figures. An answer is decided when it dials what the decision dials for
    the caller, fallback when it dials the intake's fallback, wrong otherwise; a request
    without a 200 answer is an error. Answer times are from when the request was due."""
    decided = fallback = wrong = 0
    errors: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    times, lags = [], []
    for ask, answer in zip(asks, answers, strict=True):
        lags.append(answer.sent - answer.due)
        if answer.status != 200:
            errors[answer.error or f"HTTP {answer.status}"] += 1
            outcome = "error"
        else:
            times.append(answer.done - answer.due)
            if answer.text == ask.expected:
                decided, outcome = decided + 1, "decided"
            elif answer.text == FALLBACK:
                fallback, outcome = fallback + 1, "fallback"
            else:
                wrong, outcome = wrong + 1, "wrong"
        by_kind.setdefault(ask.kind, Counter())[outcome] += 1
    first_due = min((a.due for a in answers), default=0.0)
    last_due = max((a.due for a in answers), default=0.0)
    last_done = max((a.done for a in answers if a.status == 200), default=first_due)
    limit_s = (deadline_ms + grace_ms) / 1000
    return {
        "rate": rate,
        "requests": len(asks),
        "offered_per_s": round(len(asks) / (last_due - first_due + 1 / rate), 1) if asks else 0,
        "achieved_per_s": (round(len(times) / (last_done - first_due), 1)
                           if last_done > first_due else 0.0),
        "answer_ms": latency_summary(times),
        "send_lag_ms": {"p99": round(1000 * percentile(lags, 0.99), 2) if lags else None,
                        "max": round(1000 * max(lags), 2) if lags else None},
        "decided": decided, "fallback": fallback, "wrong": wrong,
        "errors": dict(errors), "error_count": sum(errors.values()),
        "over_deadline": sum(1 for t in times if t > limit_s),
        "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
    }


def cpu_per_request(cpu: dict[str, Any], requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each group a CpuMeter measured."""
    return {g: round(1000 * s / requests, 3) for g, s in cpu["cpu_s"].items()} if requests else {}


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    """Per system (pipeline, reference): the two targets, met or not, with the figures."""
    deadline = result["config"]["deadline_ms"]
    grace = result["config"]["grace_ms"]
    found: dict[str, Any] = {}
    for system in SYSTEMS:
        parts = result.get("parts", {}).get(system)
        if not parts:
            continue
        at_p99_rate = parts.get(str(TARGET_P99_RATE))
        at_load_rate = parts.get(str(TARGET_LOAD_RATE))
        latency: dict[str, Any] = {
            "wanted": f"p99 <= {TARGET_P99_MS:g} ms at {TARGET_P99_RATE} calls/s, no fallback, "
                      "no error or wrong answer", "measured": at_p99_rate is not None}
        if at_p99_rate is not None:
            p99 = at_p99_rate["answer_ms"].get("p99_ms", float("inf"))
            latency |= {"p99_ms": p99, "fallback": at_p99_rate["fallback"],
                        "errors": at_p99_rate["error_count"] + at_p99_rate["wrong"],
                        "met": (p99 <= TARGET_P99_MS and at_p99_rate["fallback"] == 0
                                and at_p99_rate["error_count"] + at_p99_rate["wrong"] == 0)}
        load: dict[str, Any] = {
            "wanted": f"at {TARGET_LOAD_RATE} calls/s no error or wrong answer and every answer "
                      f"within the deadline ({deadline} ms + {grace} ms)",
            "measured": at_load_rate is not None}
        if at_load_rate is not None:
            failures = at_load_rate["error_count"] + at_load_rate["wrong"]
            load |= {"errors": failures, "over_deadline": at_load_rate["over_deadline"],
                     "max_ms": at_load_rate["answer_ms"].get("max_ms"),
                     "met": failures == 0 and at_load_rate["over_deadline"] == 0}
        found[system] = {"latency": latency, "load": load}
    return found


def report(result: dict[str, Any]) -> str:
    config, machine = result["config"], result.get("machine", {})
    lines = [
        (f"Ring-time answers: asterisk GET /v1/route/asterisk with basic auth, open loop, "
         f"{config['duration']:g} s per rate; {config['clients']:,} clients "
         f"({config['owned_share']:.0%} owned), {config['unknown_share']:.0%} of callers "
         f"unknown; deadline {config['deadline_ms']} ms, fallback {FALLBACK}"),
        (f"machine: {machine.get('cpus')} CPUs {machine.get('cpu_model', '')}, load average "
         f"at start {machine.get('load_average_at_start')}"),
        "",
        (f"{'':18} {'offered':>7} {'achieved':>8} {'p50':>7} {'p99':>7} {'p99.9':>7} "
         f"{'max':>7}  {'decided':>7} {'fallbk':>6} {'wrong':>5} {'errors':>6} "
         f"{'>deadl':>6} {'lag p99':>7} {'load1':>5}"),
    ]
    parts = result.get("parts", {})
    for rate in config["rates"]:
        for system in SYSTEMS:
            part = parts.get(system, {}).get(str(rate))
            if part is None:
                continue
            ms = part["answer_ms"]

            def f(key: str, ms: dict[str, Any] = ms) -> str:
                value = ms.get(key)
                return f"{value:7.1f}" if value is not None else f"{'-':>7}"
            lag = part["send_lag_ms"]["p99"]
            load1 = part.get("load_average", [None])[0]
            lines.append(
                f"{system + ' ' + str(rate) + '/s':18} {part['offered_per_s']:7.1f} "
                f"{part['achieved_per_s']:8.1f} {f('p50_ms')} {f('p99_ms')} {f('p999_ms')} "
                f"{f('max_ms')}  {part['decided']:7d} {part['fallback']:6d} {part['wrong']:5d} "
                f"{part['error_count']:6d} {part['over_deadline']:6d} "
                f"{lag if lag is not None else '-':>7} "
                f"{load1 if load1 is not None else '-':>5}")
            if part["errors"]:
                lines.append(f"{'':18}   errors: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(part["errors"].items())))
            counted = part.get("intake_counted", {})
            if counted is None:
                lines.append(f"{'':18}   the intake's /metrics did not answer (overloaded)")
            elif counted and (counted.get("decided"), counted.get("fallback")) != (
                    part["decided"] + part["wrong"], part["fallback"]):
                lines.append(f"{'':18}   the intake counted decided {counted.get('decided')}, "
                             f"fallback {counted.get('fallback')}")
    staged = [(rate, parts["pipeline"][str(rate)]["stages_ms"]) for rate in config["rates"]
              if "stages_ms" in parts.get("pipeline", {}).get(str(rate), {})]
    if staged:
        lines += ["", "where the pipeline's decided answers spend their time (ms, p50 / p99, "
                      "from the Kafka timestamps of each call's events)"]
        for rate, stages in staged:
            lines.append(f"{'pipeline ' + str(rate) + '/s':18} " + "; ".join(
                f"{stage} {s.get('p50_ms', '-')} / {s.get('p99_ms', '-')}"
                for stage, s in stages.items()))
    lines += ["", "answer times in ms from when each request was due; lag: how late the load "
              "generator started requests (ms); >deadl: answers later than the deadline + "
              f"{config['grace_ms']} ms", "",
              "CPU ms per request (psutil)",
              f"{'':18} " + " ".join(f"{g[:7]:>7}" for g in CPU_GROUPS) + "  machine busy, other"]
    for rate in config["rates"]:
        for system in SYSTEMS:
            part = parts.get(system, {}).get(str(rate))
            if part is None or "cpu_ms_per_request" not in part:
                continue
            per, cpu = part["cpu_ms_per_request"], part["cpu"]
            cells = " ".join(f"{per[g]:7.2f}" if g in per else f"{'':7}" for g in CPU_GROUPS)
            other = cpu["other_s"] / cpu["wall_s"] / cpu["cpus"] if cpu.get("wall_s") else 0.0
            lines.append(f"{system + ' ' + str(rate) + '/s':18} {cells}  "
                         f"{100 * (cpu.get('machine_util') or 0):4.0f}%, {100 * other:3.0f}%")
    lines.append("")
    for system, targets in result.get("targets", {}).items():
        latency, load = targets["latency"], targets["load"]
        lines.append(_target_line(system, latency, lambda t: (
            f"p99 {t['p99_ms']} ms, {t['fallback']} fallback, {t['errors']} errors")))
        lines.append(_target_line(system, load, lambda t: (
            f"{t['errors']} errors, {t['over_deadline']} past the deadline, "
            f"slowest {t['max_ms']} ms")))
    prof = result.get("profile")
    if prof:
        lines += ["", f"profile (py-spy {prof['rate_hz']} Hz) at {prof['rate']} calls/s; "
                      f"raw stacks: {prof['folder']}"]
        lines += profile_lines(prof)
    return "\n".join(lines)


def _target_line(system: str, target: dict[str, Any], figures: Any) -> str:
    if not target["measured"]:
        return f"target -       {system}: {target['wanted']}: not measured (rate not run)"
    state = "MET   " if target["met"] else "MISSED"
    return f"target {state} {system}: {target['wanted']}: {figures(target)}"
