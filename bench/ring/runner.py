"""One ring-time benchmark run: the broker and the database (bench.pipeline's way), the client
base, the four services and the reference as processes, the warm-up, one measured part per
rate and system, and the stopping of everything it started (also on Ctrl-C and SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.pipeline.broker import ensure_topics, wait_drained
from bench.pipeline.client_base import bench_rules
from bench.pipeline.cpu import CpuMeter, infra_pids
from bench.pipeline.profiling import (RATE_HZ, start_profilers, stop_profilers,
                                      summarise_profile)
from bench.pipeline.runner import Say, check_alive, lock_root, machine, stop_bench_leftovers
from bench.ring.client_base import OWNED_PER_TEN, SEGMENTS, Desks, RingBase, seed_ring_base
from bench.ring.load import UNKNOWN_SHARE, make_asks, offer
from bench.ring.metrics import answered_between, route_answers
from bench.ring.options import Options
from bench.ring.report import FALLBACK_EXTENSION, cpu_per_request, report, summarise, verdict
from bench.ring.stages import offer_watched
from shared import topics
from shared.kafka import group_id
from switchboard.devstack import Infrastructure, Services
from switchboard.infra import free_port
from switchboard.infra.logs import tail
from switchboard.infra.processes import find_running, start_process, stop_process_tree

SEED = 1
CONNECTOR = "ring-bench"  # the PBX's connector name, with a secret made for the run
ROUTE_PATH = "/v1/route/asterisk"
WARMUP_RATE = 100
REFERENCE_MODULE = "bench.ring.reference"
# The services a ring-time answer goes through; the assignment reads calls.routed besides.
RING_PATH = ("intake", "lookup", "router")
REFERENCE_PID = "reference.pid"  # in the root (root/pids is the services', see runner)


@dataclass
class RingBenchmark:
    """What a run measures with, and what it started (stopped by `stop`)."""

    options: Options
    root: Path
    say: Say
    run_id: str
    infra: Infrastructure
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    services: Services | None = None
    reference: psutil.Popen | None = None
    reference_url: str = ""
    profilers: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, tuple[list[int], bool]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))

    # ---- the broker, the database, the client base

    def start_infrastructure(self) -> dict[str, Any]:
        self.infra.start(log=self.say)
        asyncio.run(ensure_topics(self.infra.bootstrap, [t.name for t in topics.ALL],
                                  self.options.partitions))
        broker_pid, db_pid, how_broker, how_db = infra_pids(self.infra)
        self.groups = {"broker": ([broker_pid] if broker_pid else [], False),
                       "database": ([db_pid] if db_pid else [], True),
                       "bench": ([os.getpid()], False)}
        return {"broker": how_broker, "database": how_db}

    def seed(self, desks: Desks) -> tuple[RingBase, float]:
        clients = self.options.clients
        self.say(f"seeding the client base ({clients:,} clients, "
                 f"{OWNED_PER_TEN / 10:.0%} owned; set-based inserts)...")
        started = time.monotonic()
        base = asyncio.run(seed_ring_base(self.infra.database_url, clients, self.run_id,
                                          desks, self.rng))
        return base, round(time.monotonic() - started, 1)

    # ---- the services and the reference

    def start_services(self, rules: Path) -> None:
        self.say("starting intake, lookup, router" + (" and assignment..." if
                 self.options.assignment else " (not the assignment)..."))
        env = {**self.infra.env(), "SWITCHBOARD_ROUTER_RULES_FILE": str(rules)}
        intake_env = {
            "SWITCHBOARD_INTAKE_CONNECTORS": json.dumps({CONNECTOR: self.secret}),
            "SWITCHBOARD_INTAKE_ROUTE_DEADLINE_MS": str(self.options.deadline_ms),
            "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION": FALLBACK_EXTENSION,
        }
        # Ports the kernel picks (see bench.pipeline.runner.Benchmark.start_services).
        self.services = services = Services(self.root, env, usual_ports=False)
        for name in RING_PATH + (("assignment",) if self.options.assignment else ()):
            services.start(name, free_port(), intake_env if name == "intake" else None)
        services.wait_ready(180)
        check_alive(services)
        for name, service in services.running.items():
            self.groups[name] = ([service.process.pid], True)

    def start_reference(self, desks: Desks) -> None:
        self.say("starting the reference (FastAPI + one asyncpg query)...")
        port = free_port()
        log = self.root / "logs" / "reference.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        answers = {"unknown": desks.for_unknown(),
                   **{s: desks.for_segment(s) for s in SEGMENTS}}
        env = {**os.environ,
               "SWITCHBOARD_RING_REFERENCE_PORT": str(port),
               "SWITCHBOARD_RING_REFERENCE_DATABASE_URL": self.infra.database_url,
               "SWITCHBOARD_RING_REFERENCE_CONNECTOR": CONNECTOR,
               "SWITCHBOARD_RING_REFERENCE_SECRET": self.secret,
               "SWITCHBOARD_RING_REFERENCE_DESKS": json.dumps(answers)}
        self.reference = start_process([sys.executable, "-m", REFERENCE_MODULE], log,
                                       env=env)
        (self.root / REFERENCE_PID).write_text(str(self.reference.pid))
        self.reference_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self.reference.poll() is not None:
                raise RuntimeError(f"the reference exited with {self.reference.returncode}; "
                                   f"its log ({log}) ends:\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.reference_url}/health", timeout=2).json().get(
                        "status") == "ready":
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the reference is not ready after 60 s:\n{tail(log)}")
            time.sleep(0.3)
        self.groups["reference"] = ([self.reference.pid], True)

    def url(self, system: str) -> str:
        if system == "reference":
            return self.reference_url + ROUTE_PATH
        assert self.services is not None
        return self.services.running["intake"].url + ROUTE_PATH

    # ---- the parts

    def drained(self) -> None:
        assert self.services is not None
        wait_drained(self.infra.bootstrap, [group_id(n) for n in self.services.running],
                     self.say)

    def part(self, system: str, rate: int, base: RingBase, label: str,
             measured: bool = True, seconds: float | None = None) -> dict[str, Any]:
        """`rate` requests per second for `seconds` (--duration) to one system."""
        options = self.options
        seconds = options.duration if seconds is None else seconds
        n = max(1, round(rate * seconds))
        asks = make_asks(f"{self.run_id}{label}", n, base, self.rng)
        self.drained()
        intake_url = self.services.running["intake"].url if self.services else ""
        counting = system == "pipeline"
        before = route_answers(intake_url) if counting else None
        meter = CpuMeter(self.groups) if measured else None
        load_average = [round(x, 2) for x in os.getloadavg()]
        offering = offer(self.url(system), asks, rate, (CONNECTOR, self.secret),
                         options.connections, options.timeout)
        stages = None
        if meter:
            meter.start()
        if options.stages and measured and system == "pipeline":
            answers, cpu, stages = asyncio.run(offer_watched(
                offering, self.infra.bootstrap, f"{self.run_id}{label}-", asks,
                lambda: meter.stop() if meter else None))
        else:
            answers = asyncio.run(offering)
            cpu = meter.stop() if meter else None
        if self.services:
            check_alive(self.services)
        summary = summarise(asks, answers, rate, options.deadline_ms, options.grace_ms)
        summary["load_average"] = load_average
        if counting:
            summary["intake_counted"] = answered_between(before, route_answers(intake_url))
        if stages is not None:
            summary["stages_ms"] = stages
        if cpu is not None:
            summary["cpu"] = cpu
            summary["cpu_ms_per_request"] = cpu_per_request(cpu, n)
        ms = summary["answer_ms"]
        self.say(f"  {system} {rate}/s: p50 {ms.get('p50_ms')} p99 {ms.get('p99_ms')} ms, "
                 f"decided {summary['decided']}, fallback {summary['fallback']}, "
                 f"wrong {summary['wrong']}, errors {summary['error_count']}")
        return summary

    def warm_up(self, base: RingBase, systems: list[str]) -> None:
        if self.options.warmup <= 0:
            return
        for system in systems:
            self.say(f"warm-up: {self.options.warmup:g} s at {WARMUP_RATE}/s to the {system}...")
            self.part(system, WARMUP_RATE, base, f"w{system[0]}", measured=False,
                      seconds=self.options.warmup)

    def profile(self, base: RingBase) -> dict[str, Any]:
        assert self.services is not None
        rate = self.options.profile_rate
        assert rate is not None
        out = self.root / "profiles"
        self.say(f"profile: py-spy on the four services, {rate}/s for "
                 f"{self.options.duration:g} s (raw stacks in {out})...")
        self.drained()
        self.profilers = start_profilers(self.services, out, RATE_HZ)
        profiled = self.part("pipeline", rate, base, "prof")
        stop_profilers(self.profilers, 60)
        self.profilers = {}
        return {
            "rate": rate, "rate_hz": RATE_HZ, "folder": str(out), "part": profiled,
            "services": {name: summarise_profile(out / f"{name}.txt", RATE_HZ)
                         for name in self.services.running if (out / f"{name}.txt").exists()},
        }

    def stop(self) -> None:
        """Everything still running that the run started, the broker and database last."""
        self.say("stopping what the benchmark started...")
        with contextlib.suppress(Exception):
            stop_profilers(self.profilers, 30)
        if self.reference is not None:
            with contextlib.suppress(Exception):
                stop_process_tree(self.reference, 10)
            (self.root / REFERENCE_PID).unlink(missing_ok=True)
        if self.services is not None:
            with contextlib.suppress(Exception):
                self.services.stop_all()
        self.infra.stop()


def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; returns the figures (what --json prints)."""
    rates = options.rate_list()
    say = Say(options.json)
    root = options.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = lock_root(root)
    stop_reference_leftover(root, say)
    stop_bench_leftovers(root, say)
    for old in (root / "logs").glob("*.log") if (root / "logs").exists() else []:
        old.unlink()  # one run's logs
    run_id = uuid.uuid4().hex[:6]
    benchmark = RingBenchmark(options, root, say, run_id,
                              Infrastructure(root, options.partitions, fast=options.fast_db))
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt),
                signal.SIGINT: signal.getsignal(signal.SIGINT)}
    systems = ["reference", "pipeline"] if options.reference else ["pipeline"]
    result: dict[str, Any] = {
        "config": {"rates": rates, "duration": options.duration, "clients": options.clients,
                   "owned_share": OWNED_PER_TEN / 10, "unknown_share": UNKNOWN_SHARE,
                   "deadline_ms": options.deadline_ms, "grace_ms": options.grace_ms,
                   "fallback_extension": FALLBACK_EXTENSION, "connections": options.connections,
                   "timeout_s": options.timeout, "warmup_s": options.warmup,
                   "partitions": options.partitions, "assignment": options.assignment,
                   "stages": options.stages, "database_fsync": not options.fast_db,
                   "run_id": run_id},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        result["infrastructure"] = benchmark.start_infrastructure()
        result["machine"] = machine()
        rules = bench_rules(root)
        desks = Desks.from_rules(rules)
        base, result["seed_seconds"] = benchmark.seed(desks)
        benchmark.start_services(rules)
        if options.reference:
            benchmark.start_reference(desks)
        benchmark.warm_up(base, systems)
        result["parts"] = {system: {} for system in systems}
        for rate in rates:
            for system in systems:  # side by side, so both see the same noise
                say(f"{system}: {rate} requests/s for {options.duration:g} s...")
                result["parts"][system][str(rate)] = benchmark.part(
                    system, rate, base, f"{system[0]}{rate}")
                # kept if a later part fails
                (root / "last-run.json").write_text(json.dumps(result, indent=2))
        if options.profile_rate:
            result["profile"] = benchmark.profile(base)
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        result["targets"] = verdict(result)
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
    print(json.dumps(result, indent=2) if options.json else "\n" + report(result))
    return 0


def stop_reference_leftover(root: Path, say: Say) -> None:
    """The reference a killed earlier run left running (its pid file, its command line)."""
    pid_file = root / REFERENCE_PID
    with contextlib.suppress(OSError, ValueError):
        process = find_running(int(pid_file.read_text()), REFERENCE_MODULE)
        if process is not None:
            say(f"stopping the reference (pid {process.pid}) left by an earlier run")
            stop_process_tree(process, 10)
    pid_file.unlink(missing_ok=True)


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt
