"""One desk benchmark run: the stack (bench.stack: the broker, the database, intake, lookup,
router, assignment and the desk as processes), the client base and the operators, the
browsers connected, the load (warm-up, then the measured calls, on one schedule), the wait
for the last cards, and the stopping of everything it started (also on Ctrl-C and SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.desk.browsers import Browser, close_browsers, open_browsers
from bench.desk.load import CONNECTOR, Call, make_calls, offer
from bench.desk.options import Options
from bench.desk.people import Operator, sign_in_operators
from bench.desk.report import cpu_figures, latency_figures, report, summarise, verdict
from bench.pipeline.client_base import bench_rules
from bench.pipeline.cpu import CpuMeter
from bench.pipeline.profiling import (RATE_HZ, start_profilers, stop_profilers,
                                      summarise_profile)
from bench.pipeline.runner import Say, check_alive, machine
from bench.ring.client_base import OWNED_PER_TEN, Desks, seed_ring_base
from bench.ring.load import UNKNOWN_SHARE
from bench.ring.stages import StageWatch
from bench.stack import Stack, guarded_run
from shared import topics
from switchboard.devstack import Infrastructure

SEED = 1
SERVICES = ("intake", "lookup", "router", "assignment", "desk")  # the desk after its peers
OPENING_AT_ONCE = 20  # browsers opening their page and stream at the same time
REQUEST_TIMEOUT = 10.0  # seconds for the intake to answer a PBX event
LOOP_TICK = 0.05  # how often the benchmark's event loop checks how late it runs
STREAMS, RESYNCS = "switchboard_desk_streams", "switchboard_desk_stream_resyncs"


@dataclass
class DeskBenchmark:
    """What a run measures with, and what it started (stopped by `stop`)."""

    options: Options
    root: Path
    say: Say
    run_id: str
    stack: Stack
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    profilers: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))

    def start_services(self, rules: Path) -> None:
        names = [n for n in SERVICES if n != "assignment" or self.options.assignment]
        self.say(f"starting {', '.join(names)}...")
        self.stack.start_services(
            names, {"SWITCHBOARD_ROUTER_RULES_FILE": str(rules)},
            {"intake": {"SWITCHBOARD_INTAKE_CONNECTORS": json.dumps({CONNECTOR: self.secret})}})

    def prepare(self, desks: Desks) -> tuple[list[Call], list[Operator], dict[str, Any]]:
        """The client base (bench.ring's), the calls, the operators signed in."""
        options, url = self.options, self.stack.infra.database_url
        self.say(f"seeding the client base ({options.clients:,} clients) and "
                 f"{options.browsers} operators with a session each...")
        started = time.monotonic()
        base = asyncio.run(seed_ring_base(url, options.clients, self.run_id, desks, self.rng))
        operators = asyncio.run(sign_in_operators(url, options.browsers, self.run_id))
        warmup, measured = options.calls()
        calls = make_calls(self.run_id, warmup, measured, base, self.rng)
        return calls, operators, {"seed_seconds": round(time.monotonic() - started, 1)}

    def measure(self, calls: list[Call], operators: list[Operator]) -> dict[str, Any]:
        return asyncio.run(self._measure(calls, operators))

    async def _measure(self, calls: list[Call], operators: list[Operator]) -> dict[str, Any]:
        options, say = self.options, self.say
        desk_url, intake_url = self.stack.url("desk"), self.stack.url("intake")
        found: dict[str, Any] = {}
        say(f"opening {len(operators)} browsers (the operator's page, then its event "
            "stream)...")
        opened_at = time.monotonic()
        browsers, reading = await open_browsers(desk_url, operators, OPENING_AT_ONCE,
                                                options.connect_timeout)
        try:
            connected = sum(b.ready.is_set() for b in browsers)
            say(f"  {connected} connected in {time.monotonic() - opened_at:.1f} s")
            if connected == 0:
                raise RuntimeError("no browser got its event stream: see the desk's log "
                                   f"({self.stack.root / 'logs' / 'desk.log'})")
            found["desk_streams_at_start"] = await desk_counters(desk_url)
            watch = StageWatch(self.stack.infra.bootstrap, f"{CONNECTOR}:{self.run_id}.",
                               (topics.CALLS_RECEIVED.name, topics.CALLS_ENRICHED.name))
            await watch.start()
            lag = LoopLag()
            lag_task = asyncio.create_task(lag.run())
            try:
                found |= await self._load(calls, intake_url, browsers)
            finally:
                lag_task.cancel()
                await watch.stop()
            found["desk_counters_at_end"] = await desk_counters(desk_url)
            found["enriched_at"] = watch.seen[topics.CALLS_ENRICHED.name]
            found["received_at"] = watch.seen[topics.CALLS_RECEIVED.name]
            found["wall_minus_monotonic"] = time.time() - time.monotonic()
            found["bench_loop_lag_ms"] = latency_figures(lag.late)
        finally:
            await close_browsers(reading)
        found["browsers"] = browsers
        found["connected"] = connected
        return found

    async def _load(self, calls: list[Call], intake_url: str, browsers: list[Browser]
                    ) -> dict[str, Any]:
        options, say = self.options, self.say
        warmup, measured = options.calls()
        start = time.monotonic() + 0.5
        measured_from = start + warmup / options.rate
        measured_until = measured_from + measured / options.rate
        all_sent = asyncio.Event()
        say(f"calls: {warmup} warm-up calls, then {measured} measured, at "
            f"{options.rate:g}/s ({options.warmup:g} s + {options.duration:g} s)...")
        sending = asyncio.create_task(offer(
            intake_url, calls, options.rate, self.secret, options.ring_seconds, REQUEST_TIMEOUT,
            start, all_sent.set))
        meter = CpuMeter(self.stack.groups)
        await _sleep_until(measured_from, sending)
        meter.start()
        messages_before, bytes_before = _messages(browsers), _bytes(browsers)
        if options.profile:
            assert self.stack.services is not None
            self.profilers = await asyncio.to_thread(
                start_profilers, self.stack.services, self.root / "profiles", RATE_HZ)
        await _sleep_until(measured_until, sending)
        cpu = meter.stop()
        cpu["messages"] = _messages(browsers) - messages_before
        cpu["megabytes"] = round((_bytes(browsers) - bytes_before) / 1e6, 1)
        if self.profilers:
            await asyncio.to_thread(stop_profilers, self.profilers, 60)
            self.profilers = {}
        answered = asyncio.create_task(all_sent.wait())
        await asyncio.wait({sending, answered}, return_when=asyncio.FIRST_COMPLETED)
        answered.cancel()
        say(f"  the measured calls are sent; waiting up to {options.settle:g} s for the last "
            "cards...")
        wanted = [c.dom_id for c in calls if c.measured]
        settle_until = time.monotonic() + options.settle
        while time.monotonic() < settle_until:
            if sending.done() and sending.exception() is not None:
                break  # raised below
            if all(d in b.reader.arrivals for b in browsers for d in wanted):
                break
            await asyncio.sleep(0.5)
        if options.ring_seconds:
            say(f"  waiting for the last hang-ups ({options.ring_seconds:g} s after each "
                "call)...")
        sent = await sending
        return {"sent": sent, "cpu": cpu}

    def profile_summary(self) -> dict[str, Any]:
        out = self.root / "profiles"
        assert self.stack.services is not None
        return {"rate_hz": RATE_HZ, "folder": str(out),
                "services": {name: summarise_profile(out / f"{name}.txt", RATE_HZ)
                             for name in self.stack.services.running
                             if (out / f"{name}.txt").exists()}}

    def stop(self) -> None:
        """Everything still running that the run started, the broker and database last."""
        self.say("stopping what the benchmark started...")
        with contextlib.suppress(Exception):
            stop_profilers(self.profilers, 30)
        self.stack.stop()


class LoopLag:
    """How late the benchmark's own event loop wakes up (it reads every stream): what a
    figure may owe to the benchmark rather than to the desk."""

    def __init__(self) -> None:
        self.late: list[float] = []

    async def run(self) -> None:
        while True:
            due = time.monotonic() + LOOP_TICK
            await asyncio.sleep(LOOP_TICK)
            self.late.append(max(0.0, time.monotonic() - due))


def _messages(browsers: list[Browser]) -> int:
    return sum(b.reader.messages for b in browsers)


def _bytes(browsers: list[Browser]) -> int:
    return sum(b.reader.bytes_read for b in browsers)


async def _sleep_until(moment: float, sending: asyncio.Task[Any]) -> None:
    """Until `moment` (monotonic), or until the load failed."""
    while (left := moment - time.monotonic()) > 0:
        if sending.done():
            sending.result()  # raises what stopped it
            return
        await asyncio.sleep(min(left, 0.5))


async def desk_counters(desk_url: str) -> dict[str, float] | None:
    """The desk's own count of its connected streams and of the times one fell behind."""
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            text = (await http.get(f"{desk_url}/metrics")).text
    except httpx.HTTPError:
        return None
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (STREAMS, f"{RESYNCS}_total"):
                found[sample.name] = sample.value
    return found


def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; returns the figures (what --json prints)."""
    options.check()
    say = Say(options.json)
    root = options.root.resolve()
    run_id = uuid.uuid4().hex[:6]
    stack = Stack(root, say, Infrastructure(root, options.partitions, fast=options.fast_db))
    benchmark = DeskBenchmark(options, root, say, run_id, stack)
    result: dict[str, Any] = {
        "config": {"browsers": options.browsers, "rate": options.rate,
                   "duration": options.duration, "warmup": options.warmup,
                   "ring_seconds": options.ring_seconds, "settle": options.settle,
                   "clients": options.clients, "owned_share": OWNED_PER_TEN / 10,
                   "unknown_share": UNKNOWN_SHARE, "assignment": options.assignment,
                   "partitions": options.partitions, "database_fsync": not options.fast_db,
                   "run_id": run_id},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with guarded_run(root, say, benchmark.stop):
        result["infrastructure"] = stack.start_infrastructure(options.partitions)
        result["machine"] = machine()
        rules = bench_rules(root)
        calls, operators, result["seed"] = benchmark.prepare(Desks.from_rules(rules))
        benchmark.start_services(rules)
        stack.drained()  # an earlier run's backlog (the desk's too) is not this run's load
        measured = benchmark.measure(calls, operators)
        assert stack.services is not None
        check_alive(stack.services)
        browsers: list[Browser] = measured["browsers"]
        result["browsers"] = browser_figures(browsers, measured)
        result["figures"] = summarise(
            calls, measured["sent"], [o.viewer for o in operators],
            [b.reader.arrivals for b in browsers], measured["enriched_at"],
            measured["wall_minus_monotonic"], options.ring_seconds, measured["received_at"])
        result["bench_loop_lag_ms"] = measured["bench_loop_lag_ms"]
        cpu = measured["cpu"]
        result["cpu"] = {"wall_s": cpu["wall_s"], "machine_util": cpu["machine_util"],
                         "other_share": (cpu["other_s"] / cpu["wall_s"] / cpu["cpus"]
                                         if cpu.get("wall_s") else 0.0),
                         "cpu_s": cpu["cpu_s"], "messages": cpu["messages"],
                         "megabytes": cpu["megabytes"],
                         "per_group": cpu_figures(cpu, result["figures"]["calls"],
                                                  cpu["messages"])}
        if options.profile:
            result["profile"] = benchmark.profile_summary()
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        result["target"] = verdict(result)
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        (root / "last-run.json").write_text(json.dumps(result, indent=2))
        return result


def browser_figures(browsers: list[Browser], measured: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, int] = {}
    for browser in browsers:
        for error, n in browser.errors.items():
            errors[error] = errors.get(error, 0) + n
    start, end = measured.get("desk_streams_at_start"), measured.get("desk_counters_at_end")
    resyncs = None
    if start and end and f"{RESYNCS}_total" in end:
        resyncs = end[f"{RESYNCS}_total"] - start.get(f"{RESYNCS}_total", 0.0)
    return {
        "connected": measured["connected"],
        "desk_streams": start.get(STREAMS) if start else None,
        "reopened": sum(max(0, b.opened - 1) for b in browsers),
        "resyncs": sum(max(0, b.reader.snapshots - b.opened) for b in browsers),
        "desk_resyncs": resyncs,
        "messages": sum(b.reader.messages for b in browsers),
        "megabytes": round(sum(b.reader.bytes_read for b in browsers) / 1e6, 1),
        "errors": errors,
    }


def execute(options: Options) -> int:
    """Runs the benchmark and prints its figures: the report, or the JSON document."""
    result = run(options)
    print(json.dumps(result, indent=2) if options.json else "\n" + report(result))
    return 0
