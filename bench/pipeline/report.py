"""The verdict on a run's figures (the ratios to the raw chains, the targets: the two against
the baseline, and issue 16's on this machine) and the report the command prints."""

from __future__ import annotations

from typing import Any

from bench.pipeline.hops import FINAL_TOPIC, REFERENCE_CHAINS
from bench.pipeline.profiling import profile_lines
from shared import topics

# Issue 16's targets on this machine (2 cores, the services, Kafka and PostgreSQL on it): the
# pipeline decides at least PIPELINE_TARGET calls/s; the intake accepts at least
# WEBHOOK_TARGET webhook calls/s with no error; the ring-time answer's percentile is within
# its limit at each rate (batching must not slow the answer at low load).
PIPELINE_TARGET = 2000
WEBHOOK_TARGET = 1000
RING_TARGETS = ((10, "p50", 20.0), (100, "p99", 50.0))  # (calls/s, percentile, ms)
# The services on a call's path; the desk runs beside them and is measured on its own.
PATH_SERVICES = ("intake", "lookup", "router", "assignment")


def verdict(result: dict[str, Any], final: str, routed: str, assigned: str
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ratios pipeline / baseline, targets met or not) of a run's figures; `final` is the
    chains' last topic, `routed` and `assigned` the pipeline's."""
    base_max, base_half = result["baseline"]["max"], result["baseline"]["half"]
    pipe_max, pipe_half = result["pipeline"]["max"], result["pipeline"]["half"]

    def p99(run: dict[str, Any], topic: str) -> float:
        return run["topics"][topic]["latency"].get("p99_ms", float("inf"))

    lookup_p99 = result["lookup"]["latency"]["p99_ms"]
    base_p99 = p99(base_half, final)
    ratios = {
        "throughput": round(pipe_max["throughput"] / base_max["throughput"], 3),
        "p99_half_load_routed": round(p99(pipe_half, routed) / base_p99, 2),
        "p99_half_load_assigned": round(p99(pipe_half, assigned) / base_p99, 2),
        "cpu_per_call_services_over_hops": None,
    }
    services_cpu = sum(pipe_max.get("cpu_per_1000_calls", {}).get(name, 0.0)
                       for name in PATH_SERVICES)
    hops_cpu = base_max.get("cpu_per_1000_calls", {}).get("hops")
    if hops_cpu:
        ratios["cpu_per_call_services_over_hops"] = round(services_cpu / hops_cpu, 2)
    for mode, ref in result.get("references", {}).items():
        ratios[f"{mode}_over_baseline_throughput"] = round(
            ref["max"]["throughput"] / base_max["throughput"], 3)
    if "batch" in result.get("references", {}):
        ratios["pipeline_over_batch_throughput"] = round(
            pipe_max["throughput"] / result["references"]["batch"]["max"]["throughput"], 4)
    limit = 2 * (base_p99 + lookup_p99)
    p99_assigned = p99(pipe_half, assigned)
    targets = {
        "throughput": {
            "wanted": "pipeline max throughput >= 50% of the baseline's",
            "pipeline": pipe_max["throughput"], "baseline": base_max["throughput"],
            "met": pipe_max["throughput"] >= 0.5 * base_max["throughput"]},
        "latency": {
            "wanted": f"pipeline p99 to {assigned} at 50% load <= "
                      "2 x (baseline p99 at 50% load + bare look-up p99)",
            "pipeline_p99_ms": p99_assigned, "limit_ms": round(limit, 2),
            "baseline_p99_ms": base_p99, "lookup_p99_ms": lookup_p99,
            "met": p99_assigned <= limit and pipe_half["complete"]},
        "issue_16": batching_targets(result, routed),
    }
    return ratios, targets


def batching_targets(result: dict[str, Any], routed: str) -> dict[str, Any]:
    """Issue 16's targets, each met or not with its figures (`measured` False when the run
    left its part out)."""
    pipe_max = result["pipeline"]["max"]
    found: dict[str, Any] = {"pipeline": {
        "wanted": f"pipeline max >= {PIPELINE_TARGET:,} calls/s, every call decided",
        "measured": True, "calls_per_s": pipe_max["throughput"],
        "complete": pipe_max["complete"],
        "met": (pipe_max["throughput"] or 0) >= PIPELINE_TARGET and pipe_max["complete"]}}
    hook = result.get("webhook")
    webhook: dict[str, Any] = {
        "wanted": f"webhook intake >= {WEBHOOK_TARGET:,} accepted calls/s, no error, every "
                  "accepted call decided", "measured": hook is not None}
    if hook is not None:
        http, decided = hook["http"], hook["topics"][routed]
        webhook |= {"accepted_per_s": http["accepted_per_s"], "errors": http["error_count"],
                    "undecided": decided["missing"], "decided_per_s": decided["throughput"],
                    "met": ((http["accepted_per_s"] or 0) >= WEBHOOK_TARGET
                            and http["error_count"] == 0 and decided["missing"] == 0)}
    found["webhook"] = webhook
    parts = result.get("ring", {}).get("parts", {})
    for rate, percentile, limit in RING_TARGETS:
        part = parts.get(str(rate))
        target: dict[str, Any] = {
            "wanted": f"ring-time answer {percentile} <= {limit:g} ms at {rate} calls/s, no "
                      "fallback, error or wrong answer", "measured": part is not None,
            "rate": rate, "percentile": percentile, "limit_ms": limit}
        if part is not None:
            ms = part["answer_ms"].get(f"{percentile}_ms", float("inf"))
            failures = part["error_count"] + part["wrong"]
            target |= {"answer_ms": ms, "fallback": part["fallback"], "errors": failures,
                       "met": ms <= limit and part["fallback"] == 0 and failures == 0}
        found[f"ring_{percentile}_at_{rate}"] = target
    return found


def report(result: dict[str, Any]) -> str:
    """The figures of a run (with its verdict) as the text the command prints."""
    routed, assigned = topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name
    final = FINAL_TOPIC
    cfg = result["config"]
    lines = [
        (f"Switchboard pipeline benchmark — {cfg['calls']:,} calls per run, "
         f"{cfg['partitions']} partitions, producers acks=all + idempotent"),
        f"machine: {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}); "
        f"broker: {result['infrastructure']['broker']}; database: "
        f"{result['infrastructure']['database']}"
        + ("" if cfg["database_fsync"] else " (fsync off)")
        + ("" if cfg.get("coordinator_linger_ms") is None else
           f"; broker group.coordinator.append.linger.ms={cfg['coordinator_linger_ms']}"),
        "",
        f"{'':44} {'calls/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'p99.9 ms':>9}",
    ]

    def row(label: str, throughput: Any, latency: dict[str, Any], note: str = "") -> None:
        def f(x: Any) -> str:
            return f"{x:9.1f}" if isinstance(x, int | float) else f"{'-':>9}"
        lines.append(f"{label:44} {f(throughput)[1:]:>8} {f(latency.get('p50_ms'))} "
                     f"{f(latency.get('p99_ms'))} {f(latency.get('p999_ms'))}{note}")

    def missing(run: dict[str, Any], topic: str) -> str:
        n = run["topics"][topic]["missing"]
        return f"  ({n} missing)" if n else ""

    b = result["baseline"]
    lines.append("baseline: 4 raw aiokafka hops, 4 processes")
    row("  max rate", b["max"]["throughput"], b["max"]["topics"][final]["latency"],
        missing(b["max"], final))
    row(f"  50% load ({b['half']['offered_rate']:.0f}/s offered)", b["half"]["throughput"],
        b["half"]["topics"][final]["latency"], missing(b["half"], final))
    for mode, ref in result.get("references", {}).items():
        lines.append(f"reference: {REFERENCE_CHAINS[mode]}")
        for key, label in (("max", "  max rate"), ("half", "  50% load")):
            if key in ref:
                row(label + (f" ({ref[key]['offered_rate']:.0f}/s offered)" if key == "half"
                             else ""), ref[key]["throughput"],
                    ref[key]["topics"][final]["latency"], missing(ref[key], final))
    lk = result["lookup"]
    lines.append(f"bare look-up: ClientBase.find_caller, concurrency {lk['concurrency']}")
    row("  in a loop", lk["throughput"], lk["latency"])
    p = result["pipeline"]
    lines.append("pipeline: intake -> lookup -> router -> assignment, 4 processes")
    half_label = f"50% of baseline max ({p['half']['offered_rate']:.0f}/s)"
    for key, label in (("max", "max rate"), ("half", half_label),
                       ("max_log_warning", "max rate, services at WARNING")):
        run = p.get(key)
        if not run:
            continue
        lines.append(f"  {label}: {run['throughput']} calls/s"
                     + (" (every call decided)" if run["complete"] else " (INCOMPLETE)"))
        for topic in (t for t in (routed, assigned) if t in run["topics"]):
            t = run["topics"][topic]
            row(f"    to {topic} ({t['expected']} calls)", t["throughput"], t["latency"],
                missing(run, topic))
        stages = [(n, run["topics"][n]) for n in (topics.CALLS_RECEIVED.name,
                                                   topics.CALLS_ENRICHED.name, routed, assigned)
                  if n in run["topics"]]
        if len(stages) > 2:
            lines.append("    per stage, calls/s (p50 ms): " + ", ".join(
                f"{n} {s['throughput']} ({s['latency'].get('p50_ms')})" for n, s in stages))

    hook = result.get("webhook")
    if hook:
        http = hook["http"]
        lines.append(f"webhook intake: POST /v1/pbx/generic, signed, closed loop of "
                     f"{hook['connections']} kept-alive connections")
        errors = ", ".join(f"{k} {v}" for k, v in http["errors"].items()) or "none"
        lines.append(f"  accepted (2xx): {http['accepted']} of {http['requests']}; "
                     f"errors: {errors}")
        row("    HTTP answer, accepted calls/s", http["accepted_per_s"], http["answer_ms"])
        t = hook["topics"][routed]
        row(f"    decided, to {routed} ({t['expected']} calls)", t["throughput"], t["latency"],
            missing(hook, routed))
    ring = result.get("ring")
    if ring:
        lines.append(f"ring-time answers: GET /v1/route/asterisk, basic auth, open loop, "
                     f"{ring['duration']:g} s per rate; {ring['clients']:,} clients "
                     f"({ring['owned_share']:.0%} owned); answer times from when each "
                     f"request was due")
        for rate, part in ring["parts"].items():
            row(f"  {rate}/s ({part['offered_per_s']:.1f} offered)", part["achieved_per_s"],
                part["answer_ms"],
                f"  decided {part['decided']}, fallback {part['fallback']}, wrong "
                f"{part['wrong']}, errors {part['error_count']}, max "
                f"{part['answer_ms'].get('max_ms', '-')} ms")
            if part["errors"]:
                lines.append("    errors: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(part["errors"].items())))
            if "stages_ms" in part:
                lines.append("    decided answers' stages, ms p50 / p99: " + "; ".join(
                    f"{stage} {s.get('p50_ms', '-')} / {s.get('p99_ms', '-')}"
                    for stage, s in part["stages_ms"].items()))

    # the desk (the people's screens) runs beside the pipeline's four services and reads
    # their events; it is not on a call's path, so not in their sum
    desk = any("desk" in run.get("cpu_per_1000_calls", {}) for run in (p["max"], p["half"]))
    lines += ["", "CPU seconds per 1,000 calls (psutil)" + (
                  "; hops/services: the four on a call's path" if desk else ""),
              (f"{'':32} {'hops/services':>13} {'intake':>7} {'lookup':>7} {'router':>7} "
               f"{'assign':>7} " + (f"{'desk':>7} " if desk else "")
               + f"{'broker':>7} {'db':>7} {'bench':>7}  machine busy, other procs")]
    runs = [("baseline max", b["max"]), ("baseline 50%", b["half"]),
            *[(f"{mode} max", ref["max"])
              for mode, ref in result.get("references", {}).items()],
            ("pipeline max", p["max"]), ("pipeline 50% of baseline max", p["half"])]
    if p.get("max_log_warning"):
        runs.append(("pipeline max, WARNING logs", p["max_log_warning"]))
    if hook:
        runs.append(("webhook intake", hook))
    for rate, part in (ring or {}).get("parts", {}).items():
        if "cpu_per_1000_calls" in part:
            runs.append((f"ring-time answers {rate}/s", part))
    runs.append(("bare look-up", lk))
    for label, run in runs:
        per = run.get("cpu_per_1000_calls", {})
        cpu = run.get("cpu", {})
        procs = per.get("hops", sum(per.get(s, 0.0) for s in PATH_SERVICES))

        def c(name: str, per: dict[str, float] = per) -> str:
            return f"{per[name]:7.2f}" if name in per else f"{'':7}"
        util = cpu.get("machine_util")
        other = cpu.get("other_s", 0) / cpu["wall_s"] / cpu["cpus"] if cpu.get("wall_s") else 0
        lines.append(
            f"{label:32} {procs:13.2f} {c('intake')} {c('lookup')} {c('router')} "
            f"{c('assignment')} " + (f"{c('desk')} " if desk else "")
            + f"{c('broker')} {c('database')} {c('bench')}  "
            f"{100 * (util or 0):4.0f}%, {100 * other:3.0f}%")
    threads = p["max"].get("threads_cpu_per_1000_calls")
    if threads:
        lines.append("  of which threads other than the event loop's (pipeline max): " + ", ".join(
            f"{n} {v['other_threads']:.2f}" for n, v in threads.items()))
    if "service_log_lines_per_call" in p["max"]:
        lines.append(f"service log lines per call: {p['max']['service_log_lines_per_call']} "
                     f"(FastStream 'Received'/'Processed' lines in the max-rate run: "
                     f"{p['max']['faststream_received_processed_lines']:,})")
        if p.get("max_log_warning"):
            w = p["max_log_warning"]
            lines.append(f"  at log level WARNING: {w['service_log_lines_per_call']} per call "
                         f"({w['faststream_received_processed_lines']:,} Received/Processed)")

    r, t = result["ratios"], result["targets"]
    cpu_ratio = r.get("cpu_per_call_services_over_hops")
    lines += ["", (f"pipeline / baseline: throughput {r['throughput']:.2f} at the maximum rate; "
                   f"p99 at 50% load {r['p99_half_load_routed']:.1f}x to calls.routed, "
                   f"{r['p99_half_load_assigned']:.1f}x to the end of the pipeline"
                   + (f"; CPU per call of the services {cpu_ratio:.1f}x the hops'"
                      if cpu_ratio else ""))]
    for mode in result.get("references", {}):
        lines.append(f"{mode} chain / baseline: throughput "
                     f"{r[f'{mode}_over_baseline_throughput']:.2f} at the maximum rate")
    if "pipeline_over_batch_throughput" in r:
        lines.append(f"pipeline / batch chain: throughput "
                     f"{r['pipeline_over_batch_throughput']:.3f} at the maximum rate")
    tt, tl = t["throughput"], t["latency"]
    lines.append(f"target {'MET   ' if tt['met'] else 'MISSED'} throughput >= 50% of the "
                 f"baseline: {tt['pipeline']} vs {tt['baseline']} calls/s "
                 f"({100 * tt['pipeline'] / tt['baseline']:.0f}%)")
    lines.append(f"target {'MET   ' if tl['met'] else 'MISSED'} p99 at 50% load <= 2 x (baseline "
                 f"p99 + look-up p99) = 2 x ({tl['baseline_p99_ms']} + {tl['lookup_p99_ms']}) "
                 f"= {tl['limit_ms']} ms: {tl['pipeline_p99_ms']} ms to the end of the pipeline")
    batching = t.get("issue_16")
    if batching:
        lines += ["", "issue 16 (batching), on this machine:"]
        lines += [f"  {_state(target)} {target['wanted']}: {figures}"
                  for target, figures in _batching_figures(batching)]
        if not all(target.get("met") for target in batching.values()) and not result.get(
                "profile"):
            lines.append("  --profile adds a run under py-spy that shows where each service "
                         "spends its CPU")

    others = [run["cpu"]["other_s"] / run["cpu"]["wall_s"] / run["cpu"]["cpus"]
              for _, run in runs if run.get("cpu", {}).get("wall_s")]
    if others and max(others) > 0.1:
        lines.append(f"note: other processes used up to {100 * max(others):.0f}% of the machine "
                     "during the runs: the figures are noisy")

    prof = result.get("profile")
    if prof:
        lines += ["", (f"profile (py-spy {prof['rate_hz']} Hz, on-CPU samples; pipeline under "
                       f"py-spy: {prof['run']['throughput']} calls/s); raw stacks: "
                       f"{prof['folder']}")]
        lines += profile_lines(prof, top=5)
        hooked = prof.get("webhook")
        if hooked:
            lines += [(f"profile of the webhook intake (accepted under py-spy: "
                       f"{hooked['run']['accepted_per_s']} calls/s); raw stacks: "
                       f"{hooked['folder']}")]
            lines += profile_lines(hooked, top=5)
    return "\n".join(lines)


def _state(target: dict[str, Any]) -> str:
    if not target["measured"]:
        return "-     "
    return "MET   " if target["met"] else "MISSED"


def _batching_figures(targets: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Each of issue 16's targets with its figures as the report prints them."""
    found = []
    for key, target in targets.items():
        if not target["measured"]:
            figures = "not measured (part left out)"
        elif key == "pipeline":
            figures = (f"{target['calls_per_s']} calls/s"
                       + ("" if target["complete"] else ", some calls not decided"))
        elif key == "webhook":
            figures = (f"{target['accepted_per_s']} accepted calls/s, {target['errors']} "
                       f"errors, {target['undecided']} not decided; decided "
                       f"{target['decided_per_s']} calls/s")
        else:
            figures = (f"{target['percentile']} {target['answer_ms']} ms, "
                       f"{target['fallback']} fallback, {target['errors']} errors or wrong")
        found.append((target, figures))
    return found
