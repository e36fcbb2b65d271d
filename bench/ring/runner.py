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
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.pipeline.client_base import bench_rules
from bench.pipeline.cpu import CpuMeter
from bench.pipeline.profiling import (RATE_HZ, start_profilers, stop_profilers,
                                      summarise_profile)
from bench.pipeline.runner import Say, check_alive, machine
from bench.ring.client_base import OWNED_PER_TEN, SEGMENTS, Desks, RingBase, seed_ring_base
from bench.ring.load import UNKNOWN_SHARE, make_asks, offer
from bench.ring.metrics import answered_between, route_answers
from bench.ring.options import Options
from bench.ring.report import FALLBACK_EXTENSION, cpu_per_request, report, summarise, verdict
from bench.ring.stages import offer_watched
from bench.stack import Stack, guarded_run
from switchboard.devstack import Infrastructure
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
    stack: Stack
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    reference: psutil.Popen | None = None
    reference_url: str = ""
    profilers: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))

    @property
    def infra(self) -> Infrastructure:
        return self.stack.infra

    # ---- the client base

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
        intake_env = {
            "SWITCHBOARD_INTAKE_CONNECTORS": json.dumps({CONNECTOR: self.secret}),
            "SWITCHBOARD_INTAKE_ROUTE_DEADLINE_MS": str(self.options.deadline_ms),
            "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION": FALLBACK_EXTENSION,
        }
        self.stack.start_services(
            RING_PATH + (("assignment",) if self.options.assignment else ()),
            {"SWITCHBOARD_ROUTER_RULES_FILE": str(rules)}, {"intake": intake_env})

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
        self.stack.groups["reference"] = ([self.reference.pid], True)

    def url(self, system: str) -> str:
        if system == "reference":
            return self.reference_url + ROUTE_PATH
        return self.stack.url("intake") + ROUTE_PATH

    # ---- the parts

    def part(self, system: str, rate: int, base: RingBase, label: str,
             measured: bool = True, seconds: float | None = None) -> dict[str, Any]:
        """`rate` requests per second for `seconds` (--duration) to one system."""
        options = self.options
        seconds = options.duration if seconds is None else seconds
        n = max(1, round(rate * seconds))
        asks = make_asks(f"{self.run_id}{label}", n, base, self.rng)
        self.stack.drained()
        intake_url = self.stack.url("intake")
        counting = system == "pipeline"
        before = route_answers(intake_url) if counting else None
        meter = CpuMeter(self.stack.groups) if measured else None
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
        if self.stack.services:
            check_alive(self.stack.services)
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
        services = self.stack.services
        assert services is not None
        rate = self.options.profile_rate
        assert rate is not None
        out = self.root / "profiles"
        self.say(f"profile: py-spy on the four services, {rate}/s for "
                 f"{self.options.duration:g} s (raw stacks in {out})...")
        self.stack.drained()
        self.profilers = start_profilers(services, out, RATE_HZ)
        profiled = self.part("pipeline", rate, base, "prof")
        stop_profilers(self.profilers, 60)
        self.profilers = {}
        return {
            "rate": rate, "rate_hz": RATE_HZ, "folder": str(out), "part": profiled,
            "services": {name: summarise_profile(out / f"{name}.txt", RATE_HZ)
                         for name in services.running if (out / f"{name}.txt").exists()},
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
        self.stack.stop()


def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; returns the figures (what --json prints)."""
    rates = options.rate_list()
    say = Say(options.json)
    root = options.root.resolve()
    run_id = uuid.uuid4().hex[:6]
    stack = Stack(root, say, Infrastructure(root, options.partitions, fast=options.fast_db))
    benchmark = RingBenchmark(options, root, say, run_id, stack)
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
    with guarded_run(root, say, benchmark.stop):
        stop_reference_leftover(root, say)
        result["infrastructure"] = stack.start_infrastructure(options.partitions)
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
