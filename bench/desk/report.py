"""The figures of a run (who got which card when, and what is missing), the verdict against
the issue's target, and the report the command prints. Pure: the runner hands in what the
load sent and what each browser noted."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from bench.desk.expected import Viewer, entitled_browsers
from bench.desk.load import Call, Sent
from bench.pipeline.profiling import profile_lines
from bench.pipeline.watch import percentile

# The target (issue 15): with 200 browsers connected and 50 calls/s, the card's event
# reaches the browser within 1 s of the PBX event, p99.
TARGET_BROWSERS, TARGET_RATE, TARGET_P99_MS = 200, 50.0, 1000.0
CPU_GROUPS = ("intake", "lookup", "router", "assignment", "desk", "broker", "database", "bench")
QUANTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}


def latency_figures(seconds: list[float], missing: int = 0) -> dict[str, Any]:
    """p50 / p95 / p99 / max in ms (nearest rank) over the events received and the ones
    missing, which count as later than any: a figure that falls on a missing one is None."""
    values = seconds + [math.inf] * missing
    if not values:
        return {"count": 0}

    def ms(value: float) -> float | None:
        return round(1000 * value, 1) if math.isfinite(value) else None

    found: dict[str, Any] = {"count": len(values), "missing": missing}
    found |= {name: ms(percentile(values, q)) for name, q in QUANTILES.items()}
    found["max_ms"] = ms(max(values))
    found["max_received_ms"] = ms(max(seconds)) if seconds else None
    found["mean_received_ms"] = ms(sum(seconds) / len(seconds)) if seconds else None
    return found


def summarise(calls: list[Call], sent: list[Sent], viewers: list[Viewer],
              arrivals: list[dict[bytes, float]], enriched_at: dict[str, float] | None = None,
              wall_minus_monotonic: float = 0.0, ring_seconds: float = 0.0,
              received_at: dict[str, float] | None = None) -> dict[str, Any]:
    """The measured calls' figures. A card event is expected at every browser entitled to
    the call (bench.desk.expected) for each call the intake accepted (202); its latency runs
    from just before the PBX event was sent to the first message holding the card at that
    browser. `enriched_at`: the Kafka timestamp (Unix seconds) of each call's calls.enriched
    record, by PBX call id, which splits the latency in two (and `received_at`, of its
    calls.received record, the pipeline's part: the intake, the lookup); a missing card of a
    call whose
    record came only after the caller hung up (`ring_seconds` after the call), or never, is
    counted apart: the desk shows no card of a call that ended unanswered."""
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    missing_by_kind: Counter[str] = Counter()
    ended_first = 0  # missing events of calls that ended before their enrichment
    to_enriched: list[float] = []
    to_received: list[float] = []
    received_to_enriched: list[float] = []
    after_enriched: list[float] = []
    spread: list[float] = []  # per call: its first browser to its last
    lags: list[float] = []
    answers: list[float] = []  # the intake's answer to each call's Newchannel
    measured = accepted = hangups = 0
    for call, what in zip(calls, sent, strict=True):
        if not call.measured:
            continue
        measured += 1
        lags.append(what.sent - what.due)
        answers.append(what.done - what.sent)
        if what.hangup_status == 202:
            hangups += 1
        if what.status != 202:
            errors[what.error or f"HTTP {what.status}"] += 1
            continue
        accepted += 1
        enriched = (enriched_at or {}).get(call.pbx_id)
        if enriched is not None:
            enriched -= wall_minus_monotonic
            to_enriched.append(enriched - what.sent)
        received = (received_at or {}).get(call.pbx_id)
        if received is not None:
            received -= wall_minus_monotonic
            to_received.append(received - what.sent)
            if enriched is not None:
                received_to_enriched.append(enriched - received)
        ended = ring_seconds > 0 and (enriched is None or enriched > what.due + ring_seconds)
        times = []
        for browser in entitled_browsers(viewers, call.rings):
            at = arrivals[browser].get(call.dom_id)
            if at is None:
                missing_by_kind[call.kind] += 1
                ended_first += ended
                continue
            times.append(at)
            latencies.append(at - what.sent)
            by_kind.setdefault(call.kind, []).append(at - what.sent)
            if enriched is not None:
                after_enriched.append(at - enriched)
        if len(times) > 1:
            spread.append(max(times) - min(times))
    missing = sum(missing_by_kind.values())
    expected = len(latencies) + missing
    return {
        "calls": measured, "accepted": accepted, "errors": dict(errors),
        "error_count": sum(errors.values()), "hangups_accepted": hangups,
        "send_lag_ms": latency_figures(lags), "intake_answer_ms": latency_figures(answers),
        "events_expected": expected, "events_received": len(latencies),
        "events_missing": missing, "missing_ended_before_enriched": ended_first,
        "events_late": sum(1 for t in latencies if t * 1000 > TARGET_P99_MS) + missing,
        "latency_ms": latency_figures(latencies, missing),
        "by_kind": {kind: latency_figures(by_kind.get(kind, []), missing_by_kind[kind])
                    for kind in sorted(set(by_kind) | set(missing_by_kind))},
        "stages_ms": {"PBX event to calls.enriched (per call)": latency_figures(to_enriched),
                      "  of which PBX event to calls.received (the intake)":
                          latency_figures(to_received),
                      "  and calls.received to calls.enriched (the lookup)":
                          latency_figures(received_to_enriched),
                      "calls.enriched to the browser (per event)":
                          latency_figures(after_enriched),
                      "first to last browser of one card (per call)": latency_figures(spread)},
    }


def cpu_figures(cpu: dict[str, Any], calls: int, messages: int) -> dict[str, Any]:
    """Per group of a CpuMeter's figures: the cores it kept busy, its CPU ms per call, and
    its CPU microseconds per message the browsers read meanwhile (what the desk's fan-out
    and the benchmark's reading cost each)."""
    wall = cpu.get("wall_s") or 0.0
    return {g: {"cores": round(s / wall, 3) if wall else None,
                "ms_per_call": round(1000 * s / calls, 2) if calls else None,
                "us_per_message": round(1e6 * s / messages, 1) if messages else None}
            for g, s in cpu["cpu_s"].items()}


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    config, figures = result["config"], result.get("figures")
    found: dict[str, Any] = {
        "wanted": f"p99 <= {TARGET_P99_MS:g} ms from the PBX event to the card at the browser "
                  f"with {TARGET_BROWSERS} browsers and {TARGET_RATE:g} calls/s",
        "at_target_load": (config["browsers"] >= TARGET_BROWSERS
                           and config["rate"] >= TARGET_RATE),
        "measured": figures is not None and figures["events_expected"] > 0}
    if found["measured"]:
        assert figures is not None
        p99 = figures["latency_ms"]["p99_ms"]
        found |= {"p99_ms": p99, "missing": figures["events_missing"],
                  "met": p99 is not None and p99 <= TARGET_P99_MS}
    return found


def _ms(value: Any) -> str:
    return "missing" if value is None else f"{value:g}"


def _quantiles(figures: dict[str, Any]) -> str:
    if not figures.get("count"):
        return "none"
    return " / ".join(_ms(figures.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))


def report(result: dict[str, Any]) -> str:
    config, machine = result["config"], result.get("machine", {})
    figures, browsers = result.get("figures"), result.get("browsers", {})
    ring = (f"each ringing {config['ring_seconds']:g} s until the caller hangs up"
            if config["ring_seconds"] else "each ringing on")
    lines = [
        (f"The desk's live events: {config['browsers']} browsers (an operator's page and its "
         f"event stream each), {config['rate']:g} calls/s for {config['duration']:g} s after "
         f"{config['warmup']:g} s of warm-up, {ring}, at the client department desk "
         f"({config['unknown_share']:.0%} unknown numbers, the others clients without an "
         f"owner); Asterisk events, POST /v1/pbx/asterisk, signed"),
        (f"machine: {machine.get('cpus')} CPUs {machine.get('cpu_model', '')}, load average "
         f"at start {machine.get('load_average_at_start')}, at end "
         f"{machine.get('load_average_at_end')}"),
        "",
        (f"browsers: {browsers.get('connected')} of {config['browsers']} connected (the desk "
         f"counted {_ms(browsers.get('desk_streams'))} streams); streams reopened "
         f"{browsers.get('reopened')}, drawn again after falling behind "
         f"{browsers.get('resyncs')} (the desk counted {_ms(browsers.get('desk_resyncs'))}); "
         f"{browsers.get('messages')} messages, {browsers.get('megabytes')} MB read"),
    ]
    if browsers.get("connected") is not None and browsers["connected"] < config["browsers"]:
        lines.append(f"  {config['browsers'] - browsers['connected']} browsers had no stream "
                     "when the calls started: their cards count as missing unless they came")
    if browsers.get("errors"):
        lines.append("  browser errors: " + ", ".join(
            f"{k} {v}" for k, v in sorted(browsers["errors"].items())))
    if figures is None:
        lines.append("no figures: the run stopped before its calls were measured")
        return "\n".join(lines)
    lag = figures["send_lag_ms"]
    lines += [
        (f"calls: {figures['calls']} sent, {figures['accepted']} accepted, "
         f"{figures['error_count']} errors; hang-ups accepted {figures['hangups_accepted']}; "
         f"sent late by p99 {_ms(lag.get('p99_ms'))} ms, max {_ms(lag.get('max_ms'))} ms; "
         f"the intake answered in {_quantiles(figures.get('intake_answer_ms', {}))} ms"),
    ]
    if figures["errors"]:
        lines.append("  errors: " + ", ".join(f"{k} {v}" for k, v in
                                              sorted(figures["errors"].items())))
    lines += [
        (f"card events: {figures['events_expected']} expected (each accepted call x the "
         f"browsers entitled to it), {figures['events_received']} received, "
         f"{figures['events_missing']} missing, {figures['events_late']} later than "
         f"{TARGET_P99_MS:g} ms or missing"),
    ]
    if figures.get("missing_ended_before_enriched"):
        lines.append(f"  of the missing, {figures['missing_ended_before_enriched']} are of calls "
                     "whose calls.enriched came after the caller hung up, or never (the desk "
                     "rightly shows no card of a call that ended unanswered)")
    lines += [
        "",
        "PBX event -> card event at the browser, ms (p50 / p95 / p99 / max):",
        f"  all:                 {_quantiles(figures['latency_ms'])}",
    ]
    for kind, kind_figures in figures["by_kind"].items():
        lines.append(f"  {kind + ' callers:':20} {_quantiles(kind_figures)}")
    for stage, stage_figures in figures["stages_ms"].items():
        lines.append(f"  {stage}: {_quantiles(stage_figures)}")
    loop = result.get("bench_loop_lag_ms")
    if loop:
        lines.append(f"  the benchmark's own event loop (the {config['browsers']} streams' "
                     f"reader) ran late by p99 {_ms(loop.get('p99_ms'))} ms, max "
                     f"{_ms(loop.get('max_ms'))} ms")
    cpu = result.get("cpu")
    if cpu:
        per = cpu["per_group"]
        lines += ["", f"CPU over the measured part ({cpu['wall_s']:g} s; psutil): cores busy, "
                      f"ms per call, us per message read by the browsers ({cpu['messages']} "
                      f"messages, {cpu.get('megabytes')} MB; a snapshot after falling behind is "
                      "one message of every card shown)",
                  f"  {'':7}" + " ".join(f"{g[:10]:>10}" for g in CPU_GROUPS)
                  + "  machine busy, other"]
        lines.append(f"  {'cores':7}" + " ".join(
            f"{per[g]['cores']:10.2f}" if g in per else f"{'':10}" for g in CPU_GROUPS)
            + f"  {100 * (cpu.get('machine_util') or 0):4.0f}%, {100 * cpu['other_share']:3.0f}%")
        for unit, key in (("ms/call", "ms_per_call"), ("us/msg", "us_per_message")):
            lines.append(f"  {unit:7}" + " ".join(
                f"{per[g][key]:10.2f}" if g in per and per[g][key] is not None
                else f"{'':10}" for g in CPU_GROUPS))
    prof = result.get("profile")
    if prof:
        lines += ["", f"profile (py-spy {prof['rate_hz']} Hz) over the measured part; raw "
                      f"stacks: {prof['folder']}"]
        lines += profile_lines(prof)
    target = result.get("target")
    if target:
        lines.append("")
        if not target["measured"]:
            lines.append(f"target -       {target['wanted']}: not measured")
        else:
            state = "MET   " if target["met"] else "MISSED"
            load = "" if target["at_target_load"] else " (NOT at the target's load: "
            load += (f"{config['browsers']} browsers, {config['rate']:g} calls/s)"
                     if load else "")
            lines.append(f"target {state} {target['wanted']}: p99 {_ms(target['p99_ms'])} ms, "
                         f"{target['missing']} missing{load}")
    return "\n".join(lines)
