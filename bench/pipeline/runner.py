"""One benchmark run: its parts in order (baseline, reference chains, pipeline, webhook intake,
ring-time answers, bare look-up), the figures they give, and the stopping of everything it
started (also on Ctrl-C and SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil

from bench.pipeline.broker import TunedKafka, ensure_topics, wait_drained
from bench.pipeline.client_base import (CLIENTS, OWNED_SHARE, ClientBaseSeed, bench_rules,
                                        seed_client_base)
from bench.pipeline.cpu import CpuMeter, infra_pids, thread_cpu
from bench.pipeline.hops import (BASELINE, FINAL_TOPIC, HOP_MODULE, HOP_PREFIX,
                                 REFERENCE_CHAINS, Hops, hop_topics)
from bench.pipeline.load import UNKNOWN_SHARE, Call, make_calls
from bench.pipeline.lookup import bare_lookup
from bench.pipeline.options import Options
from bench.pipeline.profiling import (RATE_HZ, start_profilers, stop_profilers,
                                      summarise_profile)
from bench.pipeline.report import report, verdict
from bench.pipeline.ring_answers import (DEADLINE_MS, GRACE_MS, WARMUP_RATE, WARMUP_SECONDS,
                                         intake_env, ring_part)
from bench.pipeline.watch import load_run
from bench.pipeline.webhooks import (CONNECTOR, WEBHOOK_PATH, Posted, summarise_posts,
                                     webhook_feeder)
from bench.ring.client_base import OWNED_PER_TEN, Desks, seed_ring_base
from bench.ring.load import make_asks
from shared import topics
from shared.kafka import group_id
from shared.settings import KafkaSettings
from switchboard.devstack import SERVICES, Infrastructure, Services
from switchboard.infra import free_port
from switchboard.infra.logs import tail

SEED = 1
BROKER_WARMUP_ROUNDS = 5  # x --warmup calls through the hops before anything is measured
ROUTED = topics.CALLS_ROUTED.name


class Say:
    """Progress lines: to stdout, or to stderr when stdout is for the JSON document."""

    def __init__(self, to_stderr: bool) -> None:
        self.stream = sys.stderr if to_stderr else sys.stdout

    def __call__(self, *parts: object) -> None:
        print(*parts, file=self.stream, flush=True)


def make_phases(run_id: str, options: Options, base: ClientBaseSeed, rng: random.Random
                ) -> dict[str, list[Call]]:
    """Fresh calls for every part, drawn in this order (the seed gives the same ones)."""
    return {phase: make_calls(f"{run_id}{phase}", n, base, rng) for phase, n in (
        ("bw", options.warmup), ("jit", BROKER_WARMUP_ROUNDS * options.warmup),
        ("bmax", options.calls), ("bhalf", options.calls),
        ("pw", options.warmup), ("pmax", options.calls), ("phalf", options.calls),
        ("prof", options.calls), ("pwarn", options.calls), ("pwarnw", options.warmup),
        ("look", options.calls), ("hw", options.warmup), ("hook", options.calls),
        ("hprof", options.calls))}


@dataclass
class Benchmark:
    """What a run measures with, and what it started (stopped by `stop`)."""

    options: Options
    root: Path
    say: Say
    run_id: str
    infra: Infrastructure
    kafka: TunedKafka | None = None
    hops: Hops | None = None
    services: Services | None = None
    profilers: dict[str, subprocess.Popen] = field(default_factory=dict)
    calls: dict[str, list[Call]] = field(default_factory=dict)
    # the connector's secret the intake knows: the webhooks sign with it, the route requests
    # send it as basic auth
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # CPU groups measured in every part: the broker, the database (with its backends) and
    # this process (the load generator and the watcher)
    infra_groups: dict[str, tuple[list[int], bool]] = field(default_factory=dict)

    # ---- the broker and the database

    def start_infrastructure(self) -> dict[str, Any]:
        """Starts (or finds) the broker and the database; returns how they were found."""
        options = self.options
        if options.coordinator_linger_ms is not None:
            if "bootstrap" in KafkaSettings(_env_file=None).model_fields_set:
                raise SystemExit("--coordinator-linger-ms needs a broker started here: unset "
                                 "SWITCHBOARD_KAFKA_BOOTSTRAP")
            self.say("starting Apache Kafka (KRaft) with group.coordinator.append.linger.ms="
                     f"{options.coordinator_linger_ms}...")
            self.kafka = TunedKafka(self.root / "kafka", partitions=options.partitions,
                                    linger_ms=options.coordinator_linger_ms)
            os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"] = self.kafka.start()
            try:
                self.infra.start(log=self.say)
            finally:
                del os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"]
            self.infra.kafka = self.kafka  # stopped, and measured, as the one devstack starts
        else:
            self.infra.start(log=self.say)
        asyncio.run(ensure_topics(self.infra.bootstrap,
                                  [t.name for t in topics.ALL] + hop_topics(),
                                  options.partitions))
        broker_pid, db_pid, how_broker, how_db = infra_pids(self.infra)
        self.infra_groups = {"broker": ([broker_pid] if broker_pid else [], False),
                             "database": ([db_pid] if db_pid else [], True),
                             "bench": ([os.getpid()], False)}
        return {"broker": how_broker, "database": how_db,
                "broker_pid_measured": broker_pid is not None,
                "database_pid_measured": db_pid is not None}

    # ---- the chains of hops: the baseline and the references

    def start_chain(self, run_id: str, mode: str = BASELINE) -> CpuMeter:
        self.hops = Hops(self.root, self.infra.bootstrap, run_id, mode=mode)
        self.hops.start()
        return CpuMeter({"hops": (self.hops.pids, True), **self.infra_groups})

    def stop_chain(self) -> None:
        assert self.hops is not None
        self.hops.stop()
        self.hops = None

    def through_chain(self, phase: str, rate: float | None, name: str,
                      meter: CpuMeter | None) -> dict[str, Any]:
        calls = self.calls[phase]
        return asyncio.run(load_run(
            name, self.infra.bootstrap, f"{HOP_PREFIX}0", calls,
            {FINAL_TOPIC: {c.id for c in calls}}, rate, meter, self.options.stall_timeout,
            self.say))

    def baseline(self) -> dict[str, Any]:
        calls = self.options.calls
        self.say("baseline: starting four aiokafka hops as processes...")
        meter = self.start_chain(self.run_id)
        # The broker's JVM compiles its hot paths during the first few thousand messages:
        # measured first, the baseline would pay for it (2.2-2.6 ms of broker CPU per call
        # instead of 0.9-1.1).
        self.through_chain("jit", None, "broker warm-up", None)
        self.through_chain("bw", None, "baseline warm-up", None)
        self.say(f"baseline: {calls} calls at the maximum rate...")
        at_max = self.through_chain("bmax", None, "baseline, max rate", meter)
        half_rate = at_max["throughput"] / 2
        self.say(f"  {at_max['throughput']} calls/s; now {calls} calls at {half_rate:.0f}/s")
        at_half = self.through_chain("bhalf", half_rate, "baseline, 50% load", meter)
        self.stop_chain()
        return {"max": at_max, "half": at_half}

    def references(self, half_rate: float) -> dict[str, Any]:
        """Not for the targets: what the same chain costs taking whole fetched batches
        (Kafka's own limit), and as FastStream subscribers without logic (the framework)."""
        found = {}
        for mode, label in REFERENCE_CHAINS.items():
            self.say(f"reference: {label}...")
            meter = self.start_chain(f"{self.run_id}{mode}", mode)
            self.through_chain("bw", None, f"{mode} warm-up", None)
            ref = {"max": self.through_chain("bmax", None, f"{mode}, max rate", meter)}
            if mode != "batch":
                ref["half"] = self.through_chain("bhalf", half_rate, f"{mode}, 50% load", meter)
            found[mode] = ref
            self.say(f"  {ref['max']['throughput']} calls/s")
            self.stop_chain()
        return found

    # ---- the pipeline

    def start_services(self, extra: dict[str, str]) -> CpuMeter:
        self.say("pipeline: starting intake, lookup, router and assignment...")
        env = {**self.infra.env(), "SWITCHBOARD_ROUTER_RULES_FILE": str(bench_rules(self.root)),
               "SWITCHBOARD_INTAKE_CONNECTORS": json.dumps({CONNECTOR: self.secret}),
               **intake_env()}
        self.services = services = Services(self.root, {**env, **extra})
        # Ports the kernel picks: the services' usual ports (8001-8004) are what every
        # other stack on the machine tries first, and Services.wait_ready would take
        # another stack's answer on a port our service failed to bind for ours.
        for name in SERVICES:
            services.start(name, free_port())
        services.wait_ready(180)
        time.sleep(1)
        check_alive(services)
        groups = {name: ([services.running[name].process.pid], True) for name in SERVICES}
        return CpuMeter({**groups, **self.infra_groups})

    def stop_services(self) -> None:
        assert self.services is not None
        self.services.stop_all()
        self.services = None

    def through_pipeline(self, phase: str, rate: float | None, name: str,
                         meter: CpuMeter | None, webhooks: bool = False) -> dict[str, Any]:
        """The calls of `phase` through the pipeline: published to pbx.events at `rate` (None:
        all at once), or with `webhooks` posted to the intake by the webhook loop."""
        services = self.services
        assert services is not None
        calls = self.calls[phase]
        every = {c.id for c in calls}
        # the first topic holds every call; the intermediate ones show each stage's pace
        # A ringing call to the owner is a contact (a lead comes with a commercial
        # qualification, which the benchmark does not play): the last topic is calls.routed,
        # whose consumer, the assignment, still does its work per call.
        expected = {ROUTED: every}
        if self.options.stages:  # the watcher's own CPU grows with the topics it reads
            expected |= {topics.CALLS_RECEIVED.name: every, topics.CALLS_ENRICHED.name: every}
        wait_drained(self.infra.bootstrap, [group_id(n) for n in services.running], self.say)
        pids = {n: s.process.pid for n, s in services.running.items()}
        posted: list[Posted] = []
        feeder = webhook_feeder(
            services.running["intake"].url + WEBHOOK_PATH, self.secret, calls,
            self.options.webhook_connections, expected, posted) if webhooks else None
        before = thread_cpu(pids)
        measured = asyncio.run(load_run(
            name, self.infra.bootstrap, topics.PBX_EVENTS.name, calls, expected, rate,
            meter, self.options.stall_timeout, self.say,
            logs=[s.log_path for s in services.running.values()], feeder=feeder))
        check_alive(services)
        if webhooks:
            measured["http"] = summarise_posts(posted)
        after = thread_cpu(pids)
        per = 1000 / len(calls)
        measured["threads_cpu_per_1000_calls"] = {
            n: {"event_loop_thread": round((after[n][0] - before[n][0]) * per, 3),
                "other_threads": round((after[n][1] - before[n][1]) * per, 3)}
            for n in pids if n in before and n in after}
        return measured

    def pipeline(self, half_rate: float) -> tuple[dict[str, Any], CpuMeter]:
        """The pipeline at the maximum rate and at `half_rate`; the services keep running
        (with the meter of their processes) for the parts that follow."""
        calls = self.options.calls
        meter = self.start_services({})
        self.through_pipeline("pw", None, "pipeline warm-up", None)
        self.say(f"pipeline: {calls} calls at the maximum rate...")
        at_max = self.through_pipeline("pmax", None, "pipeline, max rate", meter)
        self.say(f"  {at_max['throughput']} calls/s; now {calls} calls at {half_rate:.0f}/s "
                 "(50% of the baseline's maximum)")
        at_half = self.through_pipeline("phalf", half_rate, "pipeline, 50% of baseline max",
                                        meter)
        return {"max": at_max, "half": at_half}, meter

    def webhook_intake(self, meter: CpuMeter) -> dict[str, Any]:
        """--calls calls through the intake's webhook, closed loop, after a warm-up."""
        connections = self.options.webhook_connections
        self.through_pipeline("hw", None, "webhook warm-up", None, webhooks=True)
        self.say(f"webhook intake: {self.options.calls} calls to POST {WEBHOOK_PATH}, "
                 f"{connections} connections...")
        found = self.through_pipeline("hook", None, "webhook intake", meter, webhooks=True)
        found["connections"] = connections
        http = found["http"]
        self.say(f"  accepted {http['accepted']}/{http['requests']} at "
                 f"{http['accepted_per_s']} calls/s, {http['error_count']} errors; decided "
                 f"{found['topics'][ROUTED]['throughput']} calls/s")
        return found

    def ring_answers(self, meter: CpuMeter) -> dict[str, Any]:
        """Route requests at each of --ring-rates to the running intake, against bench/ring's
        client base seeded beside the pipeline's, after a warm-up."""
        services = self.services
        assert services is not None
        options = self.options
        rng = random.Random(SEED)
        desks = Desks.from_rules(self.root / "rules.yaml")  # start_services wrote it
        self.say(f"ring-time answers: seeding {options.ring_clients:,} clients "
                 f"({OWNED_PER_TEN / 10:.0%} owned; set-based inserts)...")
        started = time.monotonic()
        base = asyncio.run(seed_ring_base(self.infra.database_url, options.ring_clients,
                                          self.run_id, desks, rng))
        seeded = round(time.monotonic() - started, 1)
        intake_url = services.running["intake"].url
        auth = (CONNECTOR, self.secret)

        def part(label: str, rate: int, seconds: float, measured: bool) -> dict[str, Any]:
            tag = f"{self.run_id}{label}"
            asks = make_asks(tag, max(1, round(rate * seconds)), base, rng)
            wait_drained(self.infra.bootstrap, [group_id(n) for n in services.running],
                         self.say)
            stages = (self.infra.bootstrap, f"{tag}-") if options.stages and measured else None
            found = ring_part(intake_url, asks, rate, auth, meter if measured else None, stages)
            check_alive(services)
            return found

        self.say(f"ring-time answers: warm-up, {WARMUP_SECONDS:g} s at {WARMUP_RATE}/s...")
        part("rw", WARMUP_RATE, WARMUP_SECONDS, measured=False)
        parts = {}
        for rate in options.ring_rate_list():
            self.say(f"ring-time answers: {rate} requests/s for {options.ring_duration:g} s...")
            parts[str(rate)] = found = part(f"r{rate}", rate, options.ring_duration, True)
            ms = found["answer_ms"]
            self.say(f"  p50 {ms.get('p50_ms')} p99 {ms.get('p99_ms')} ms, decided "
                     f"{found['decided']}, fallback {found['fallback']}, wrong "
                     f"{found['wrong']}, errors {found['error_count']}")
        return {"clients": options.ring_clients, "owned_share": OWNED_PER_TEN / 10,
                "seed_seconds": seeded, "duration": options.ring_duration,
                "deadline_ms": DEADLINE_MS, "grace_ms": GRACE_MS, "parts": parts}

    def profile(self, meter: CpuMeter) -> dict[str, Any]:
        """A max-rate pipeline run with py-spy on the running services; with the webhook
        intake, also a webhook run under py-spy (its stacks in a folder of their own)."""
        out = self.root / "profiles"
        self.say(f"profile: py-spy on the services, {self.options.calls} calls at the "
                 f"maximum rate (raw stacks in {out})...")
        found = self.under_py_spy(out, "prof", "pipeline under py-spy", meter)
        if self.options.webhooks:
            self.say(f"profile: py-spy on the services, {self.options.calls} webhook calls "
                     f"(raw stacks in {out / 'webhook'})...")
            found["webhook"] = self.under_py_spy(out / "webhook", "hprof",
                                                 "webhook intake under py-spy", meter,
                                                 webhooks=True)
        return found

    def under_py_spy(self, out: Path, phase: str, name: str, meter: CpuMeter,
                     webhooks: bool = False) -> dict[str, Any]:
        assert self.services is not None
        self.profilers = start_profilers(self.services, out, RATE_HZ)
        profiled = self.through_pipeline(phase, None, name, meter, webhooks=webhooks)
        stop_profilers(self.profilers, 60)
        self.profilers = {}
        found = {
            "run": {k: profiled[k] for k in ("throughput", "seconds")},
            "rate_hz": RATE_HZ, "folder": str(out),
            "services": {name: summarise_profile(out / f"{name}.txt", RATE_HZ)
                         for name in SERVICES if (out / f"{name}.txt").exists()},
        }
        if webhooks:
            found["run"]["accepted_per_s"] = profiled["http"]["accepted_per_s"]
        for name, summary in found["services"].items():
            summary["cpu_s_psutil"] = profiled.get("cpu", {}).get("cpu_s", {}).get(name)
        return found

    def at_log_level_warning(self) -> dict[str, Any]:
        """A max-rate pipeline run with the services restarted at log level WARNING."""
        self.stop_services()
        quiet = {f"SWITCHBOARD_{name.upper()}_LOG_LEVEL": "WARNING" for name in SERVICES}
        meter = self.start_services(quiet)
        self.through_pipeline("pwarnw", None, "pipeline warm-up (WARNING)", None)
        self.say(f"pipeline, services at log level WARNING: {self.options.calls} calls at the "
                 "maximum rate...")
        return self.through_pipeline("pwarn", None, "pipeline, max rate, log level WARNING",
                                     meter)

    # ---- the bare look-up

    def bare_lookup(self) -> dict[str, Any]:
        """The bare look-up, alone on the database."""
        self.say(f"bare look-up: {self.options.calls} x ClientBase.find_caller, "
                 f"concurrency {self.options.lookup_concurrency}...")
        return asyncio.run(bare_lookup(
            self.infra.database_url, self.calls["look"], self.options.lookup_concurrency,
            CpuMeter(self.infra_groups), self.options.warmup))

    def stop(self) -> None:
        """Everything still running that the run started, the broker and database last."""
        self.say("stopping what the benchmark started...")
        with contextlib.suppress(Exception):
            stop_profilers(self.profilers, 30)
        if self.hops is not None:
            with contextlib.suppress(Exception):
                self.hops.stop()
        if self.services is not None:
            with contextlib.suppress(Exception):
                self.services.stop_all()
        self.infra.stop()
        if self.kafka is not None:
            self.kafka.stop()


def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; returns the figures (what --json prints)."""
    options.ring_rate_list()  # a bad list stops the run before anything starts
    say = Say(options.json)
    root = options.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = lock_root(root)
    stop_bench_leftovers(root, say)
    for old in (root / "logs").glob("*.log") if (root / "logs").exists() else []:
        old.unlink()  # one run's logs
    run_id = uuid.uuid4().hex[:6]
    rng = random.Random(SEED)
    benchmark = Benchmark(options, root, say, run_id,
                          Infrastructure(root, options.partitions, fast=options.fast_db))
    # Ctrl-C is Python's KeyboardInterrupt (asyncio.run cancels the running part cleanly);
    # SIGTERM is made one too. Both end in the `finally` below.
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt),
                signal.SIGINT: signal.getsignal(signal.SIGINT)}
    result: dict[str, Any] = {
        "config": {"calls": options.calls, "partitions": options.partitions,
                   "producer": {"acks": "all", "enable_idempotence": True},
                   "lookup_concurrency": options.lookup_concurrency,
                   "clients": CLIENTS, "owned_share": OWNED_SHARE,
                   "unknown_callers": UNKNOWN_SHARE, "database_fsync": not options.fast_db,
                   "coordinator_linger_ms": options.coordinator_linger_ms,
                   "webhooks": options.webhooks,
                   "webhook_connections": options.webhook_connections,
                   "ring_rates": options.ring_rate_list() if options.ring else [],
                   "run_id": run_id},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        infrastructure = benchmark.start_infrastructure()
        result["machine"] = machine()
        result["infrastructure"] = infrastructure

        say("seeding the client base (400 clients, 3 in 4 owned)...")
        base = asyncio.run(seed_client_base(benchmark.infra.database_url, run_id, rng))
        benchmark.calls = make_phases(run_id, options, base, rng)

        result["baseline"] = benchmark.baseline()
        half_rate = result["baseline"]["max"]["throughput"] / 2
        if options.references:
            result["references"] = benchmark.references(half_rate)
        result["pipeline"], meter = benchmark.pipeline(half_rate)
        if options.webhooks:
            result["webhook"] = benchmark.webhook_intake(meter)
        if options.ring:
            result["ring"] = benchmark.ring_answers(meter)
        if options.profile:
            result["profile"] = benchmark.profile(meter)
        if options.compare_log_level:
            result["pipeline"]["max_log_warning"] = benchmark.at_log_level_warning()
        benchmark.stop_services()
        result["lookup"] = benchmark.bare_lookup()

        (root / "last-run.json").write_text(json.dumps(result, indent=2))  # kept if below fails
        # Ringing calls make no lead any more (one lead per deal): the end of a call's path
        # through the pipeline, for the latency target too, is calls.routed.
        result["ratios"], result["targets"] = verdict(result, FINAL_TOPIC, ROUTED, ROUTED)
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        (root / "last-run.json").write_text(json.dumps(result, indent=2))
        return result
    finally:
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleaning up
        benchmark.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        lock.close()


def execute(options: Options) -> int:
    """Runs the benchmark and prints its figures: the report, or the JSON document."""
    result = run(options)
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print()
        print(report(result))
    return 0


# ---- the run's folder, the services' health, the machine


def lock_root(root: Path) -> IO[str]:
    handle = (root / "bench.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another benchmark runs in {root}") from None
    return handle


def stop_bench_leftovers(root: Path, say: Say) -> None:
    """What a killed earlier run of this bench left running: hops and services whose pid
    files are in root/pids and whose command line is still theirs. (Its broker and database
    are stopped by Infrastructure.start, from their own pid files.)"""
    folder = root / "pids"
    if not folder.exists():
        return
    for pid_file in folder.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            process = psutil.Process(int(pid_file.read_text()))
            cmdline = " ".join(process.cmdline())
            ours = f"services.{pid_file.stem}.main" in cmdline or HOP_MODULE in cmdline
            if ours:
                say(f"stopping {pid_file.stem} (pid {process.pid}) left by an earlier run")
                process.terminate()
                try:
                    process.wait(15)
                except psutil.TimeoutExpired:
                    process.kill()
        pid_file.unlink(missing_ok=True)


def check_alive(services: Services) -> None:
    """Every service still runs (one that exits makes the figures meaningless)."""
    for name, service in services.running.items():
        if service.process.poll() is not None:
            raise RuntimeError(f"{name} exited with {service.process.returncode}; its log "
                               f"({service.log_path}) ends:\n{tail(service.log_path)}")


def machine() -> dict[str, Any]:
    return {"cpus": psutil.cpu_count(), "cpu_model": _cpu_model(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt
