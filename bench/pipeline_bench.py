"""The pipeline benchmark: Switchboard against the transport's own limit.

    switchboard bench [--calls 5000] [--partitions 6] [--json] [--profile] [--compare-log-level]
    python bench/pipeline_bench.py [the same options]

One run, on one Kafka broker and one PostgreSQL database: the ones SWITCHBOARD_KAFKA_BOOTSTRAP
and SWITCHBOARD_DATABASE_URL name, else its own, started under `.switchboard/bench` and stopped
at the end (also on Ctrl-C). Every part has the same topic partitions, the same payload (a
generic PBX event keyed by the caller number) and the same producer settings (acks=all,
idempotent):

1. **baseline**: a raw aiokafka chain of four consume-and-produce hops without logic,
   bench.hop0 -> bench.hop1 -> ... -> bench.hop4, each hop its own process (as the services
   are) with its own consumer group, handling one record at a time and committing after the
   produce was acknowledged, as FastStream does for the services; at the maximum rate (all
   calls published at once), then at 50% of the rate it reached;
2. **pipeline**: intake, lookup, router and assignment as processes (devstack.Services), fed
   the same way at the maximum rate, then at 50% of the baseline's maximum, with a client base
   of 400 clients, three in four owned (so their calls become the owner's leads; the routing
   rules are the deploy/rules.yaml ones with every department on shift around the clock, so
   the result does not depend on the hour);
3. **bare look-up**: the database look-up the lookup service does for each call
   (`ClientBase.find_caller`), in a loop, at the lookup service's concurrency (one message at
   a time per process: --lookup-concurrency 1).
4. **reference chains** (not for the targets; --no-references leaves them out): the
   baseline's four hops taking whole fetched batches and committing once per batch (Kafka's
   own limit when nothing is done per message), and the same hops as FastStream subscribers
   that pass the bytes on, plain and with the services' broker (`shared.kafka.make_broker`):
   what the framework costs without the pipeline's work.

Latency is from the PBX event's publication (the load generator's send) to the consume of
the call's record on bench.hop4, calls.routed and leads.assigned by a watcher in this process
(same clock). Throughput is calls / (last call done - first call published). CPU is measured
with psutil: CPU seconds of the service (or hop) processes, the broker and the database per
1,000 calls, and the machine's utilisation (with what other processes used meanwhile).

--profile adds a pipeline run at the maximum rate under py-spy (raw collapsed stacks in
`.switchboard/bench/profiles/`, open them in https://www.speedscope.app) and prints where each
service spends its CPU. --compare-log-level adds one with the services at log level WARNING.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import math
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/pipeline_bench.py`: shared, services, switchboard
    sys.path.insert(0, str(REPO))

HERE = Path(__file__).resolve()
DEFAULT_ROOT = REPO / ".switchboard" / "bench"
HOP_PREFIX = "bench.hop"
HOPS = 4
BROKER_WARMUP_ROUNDS = 5  # x --warmup calls through the hops before anything is measured
BATCH_RECORDS = 500  # a batch hop's largest batch
# Reference chains: the baseline's four hops done another way, printed beside it.
REFERENCE_CHAINS = {
    "batch": f"raw aiokafka hops taking whole fetched batches (up to {BATCH_RECORDS} "
             "records, one commit per batch)",
    "faststream": "FastStream subscribers passing the bytes on, no logic (acks=all, "
                  "idempotent, NACK_ON_ERROR)",
    "switchboard": "the services' broker (shared.kafka.make_broker: middlewares, metrics), "
                   "no logic",
}
GENERAL_LINE = "+74951000000"
CLIENTS = 400
HISTORY = 20  # earlier contacts and open leads per client: the look-up's steady state
UNKNOWN_SHARE = 0.1  # calls from numbers not in the client base
CALL_ID = re.compile(rb'"call_id":\s*"([^"]*)"')
SETTLE_SECONDS = 60.0  # after every call is routed, how long to wait for missing leads


# --------------------------------------------------------------------------- options, output


@dataclass
class Options:
    calls: int = 5000
    partitions: int = 6
    json: bool = False
    root: Path = DEFAULT_ROOT
    lookup_concurrency: int = 1
    warmup: int = 1000
    profile: bool = False
    profile_rate: int = 100
    compare_log_level: bool = False
    fast_db: bool = False
    stages: bool = False
    references: bool = True
    coordinator_linger_ms: int | None = None
    stall_timeout: float = 120.0
    seed: int = 1


class Say:
    """Progress lines: to stdout, or to stderr when stdout is for the JSON document."""

    def __init__(self, to_stderr: bool) -> None:
        self.stream = sys.stderr if to_stderr else sys.stdout

    def __call__(self, *parts: object) -> None:
        print(*parts, file=self.stream, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"count": 0}
    return {"count": len(ms), "p50_ms": round(percentile(ms, 0.5), 2),
            "p99_ms": round(percentile(ms, 0.99), 2), "p999_ms": round(percentile(ms, 0.999), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(sum(ms) / len(ms), 2)}


# --------------------------------------------------------------------------- CPU


class CpuMeter:
    """CPU seconds of groups of processes over a phase, and the machine's utilisation.

    A group is a list of pids, each with its children or not (PostgreSQL backends are
    children of the postmaster). Sampled every `interval` seconds, so that a process that
    ends during the phase still counts up to its last sample, and one that starts during
    it counts from zero.
    """

    def __init__(self, groups: dict[str, tuple[list[int], bool]], interval: float = 0.5) -> None:
        self.groups = groups
        self.interval = interval
        self._first: dict[tuple[str, int], float] = {}
        self._last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._initial = True
        self._lock = threading.Lock()

    def _sample(self) -> None:
        for group, (pids, children) in self.groups.items():
            for pid in pids:
                try:
                    root = psutil.Process(pid)
                    procs = [root, *(root.children(recursive=True) if children else [])]
                except psutil.Error:
                    continue
                for proc in procs:
                    try:
                        times = proc.cpu_times()
                    except psutil.Error:
                        continue
                    value = times.user + times.system
                    key = (group, proc.pid)
                    with self._lock:
                        if key not in self._first:
                            self._first[key] = value if self._initial else 0.0
                        self._last[key] = value

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._first.clear()
        self._last.clear()
        self._initial = True
        self._machine0 = psutil.cpu_times()
        self._wall0 = time.perf_counter()
        self._sample()
        self._initial = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        wall = time.perf_counter() - self._wall0
        machine1 = psutil.cpu_times()
        per_group: dict[str, float] = defaultdict(float)
        for key, last in self._last.items():
            per_group[key[0]] += max(0.0, last - self._first.get(key, 0.0))

        def busy(t: Any) -> float:
            return sum(getattr(t, f, 0.0) for f in
                       ("user", "nice", "system", "irq", "softirq", "steal"))

        def total(t: Any) -> float:
            return busy(t) + t.idle + getattr(t, "iowait", 0.0)

        machine_busy = busy(machine1) - busy(self._machine0)
        machine_total = total(machine1) - total(self._machine0)
        ours = sum(per_group.values())
        return {
            "wall_s": round(wall, 3),
            "cpu_s": {g: round(per_group.get(g, 0.0), 3) for g in self.groups},
            "machine_busy_s": round(machine_busy, 3),
            "machine_util": round(machine_busy / machine_total, 4) if machine_total else None,
            "other_s": round(max(0.0, machine_busy - ours), 3),
            "cpus": psutil.cpu_count(),
        }


def thread_cpu(pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """Per service: CPU seconds so far of its main thread (the event loop) and of its other
    threads (anyio's worker threads, to which FastDepends hands sync dependencies)."""
    found = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            main = other = 0.0
            for thread in psutil.Process(pid).threads():
                if thread.id == pid:
                    main += thread.user_time + thread.system_time
                else:
                    other += thread.user_time + thread.system_time
            found[name] = (main, other)
    return found


def listener_pid(address: str) -> int | None:
    """The local process listening on host:port, when the address is on this machine."""
    host, _, port = address.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0") or not port.isdigit():
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == int(port):
                return conn.pid
    except psutil.Error:
        return None
    return None


def infra_pids(infra: Any) -> tuple[int | None, int | None, str, str]:
    """(broker pid, postmaster pid, how the broker was found, how the database was found)."""
    broker, how_broker = None, "not found"
    if infra.kafka is not None and infra.kafka.pid:
        broker, how_broker = infra.kafka.pid, "started here"
    else:
        first = infra.bootstrap.split(",")[0]
        broker = listener_pid(first)
        how_broker = "named by the environment" + ("" if broker else ", not on this machine")
    database, how_db = None, "not found"
    if infra.postgres is not None and infra.postgres.data_dir is not None:
        with contextlib.suppress(OSError, ValueError):
            pid_file = infra.postgres.data_dir / "postmaster.pid"
            database = int(pid_file.read_text().splitlines()[0])
            how_db = "started here"
    else:
        from urllib.parse import urlparse

        url = urlparse(infra.database_url)
        database = listener_pid(f"{url.hostname or '127.0.0.1'}:{url.port or 5432}")
        how_db = "named by the environment" + ("" if database else ", not on this machine")
    return broker, database, how_broker, how_db


# --------------------------------------------------------------------------- the client base


@dataclass
class ClientBaseSeed:
    owned: list[str]
    unowned: list[str]


async def seed_client_base(url: str, tag: str, rng: random.Random) -> ClientBaseSeed:
    """400 clients, three in four owned by one of ten commercial negotiators, each with
    HISTORY earlier contacts and (when owned) HISTORY open leads, so the look-up returns what
    it returns in steady state from the first call on. Fresh ids and numbers every run."""
    conn = await asyncpg.connect(url)
    try:
        while True:  # a block of numbers no earlier run used
            block = f"{rng.randrange(10**4):04d}"
            prefix = f"+7917{block}"
            if not await conn.fetchval(
                    "SELECT 1 FROM client_phones WHERE phone LIKE $1 LIMIT 1", prefix + "%"):
                break
        now = datetime.now(UTC)
        employees = [uuid.uuid4() for _ in range(10)]
        segments_owned = ["individual", "small_business", "corporate", "large_corporate"]
        segments_unowned = ["individual", "small_business", "corporate"]  # desk, no lead
        clients, phones, owners, contacts, leads = [], [], [], [], []
        owned, unowned = [], []
        for i in range(CLIENTS):
            client_id = uuid.uuid4()
            phone = f"{prefix}{i:03d}"
            is_owned = i % 4 != 0
            segment = (segments_owned[i % 4] if is_owned else segments_unowned[i // 4 % 3])
            clients.append((client_id, f"bench-{tag}-{i}", f"Bench client {tag} {i}", segment))
            phones.append((phone, client_id))
            owner = employees[i % len(employees)]
            if is_owned:
                owners.append((client_id, owner, now - timedelta(days=20),
                               now - timedelta(days=1)))
                owned.append(phone)
            else:
                unowned.append(phone)
            for k in range(HISTORY):
                at = now - timedelta(days=10, minutes=k * 37 + i)
                contacts.append((f"bench:{tag}-hist-{i}-{k}", client_id, None, phone,
                                 GENERAL_LINE, at))
                if is_owned:
                    leads.append((uuid.uuid4(), f"bench:{tag}-lead-{i}-{k}", client_id, owner,
                                  "commercial", "owner", "open", at, at))
        async with conn.transaction():
            await conn.executemany(
                """INSERT INTO employees (employee_id, email, name, department, role, capacity)
                   VALUES ($1, $2, $3, 'commercial', 'agent', 1000000)""",
                [(e, f"{e.hex}@bench.example", f"Negotiator {e.hex[:6]}") for e in employees])
            await conn.executemany(
                "INSERT INTO clients (client_id, external_id, name, segment) "
                "VALUES ($1, $2, $3, $4)", clients)
            await conn.executemany(
                "INSERT INTO client_phones (phone, client_id) VALUES ($1, $2)", phones)
            await conn.executemany(
                "INSERT INTO ownership (client_id, employee_id, since, last_activity_at) "
                "VALUES ($1, $2, $3, $4)", owners)
            await conn.copy_records_to_table(
                "contacts", records=contacts,
                columns=["call_id", "client_id", "employee_id", "caller", "dialed",
                         "occurred_at"])
            # published: the assignment's relay must not announce them again
            await conn.copy_records_to_table(
                "leads", records=leads,
                columns=["lead_id", "call_id", "client_id", "employee_id", "department",
                         "strategy", "status", "created_at", "published_at"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return ClientBaseSeed(owned, unowned)


def bench_rules(root: Path) -> Path:
    """deploy/rules.yaml with every department on shift around the clock: an owned client's
    call goes to its owner (and makes a lead) whatever the hour of the run."""
    rules = yaml.safe_load((REPO / "deploy" / "rules.yaml").read_text())
    for department in (rules.get("departments") or {}).values():
        department["hours"] = {"mon-sun": "00:00-24:00"}
        department["closed"] = []
    path = root / "rules.yaml"
    path.write_text("# written by bench/pipeline_bench.py: deploy/rules.yaml, open 24/7\n"
                    + yaml.safe_dump(rules, sort_keys=False))
    return path


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Call:
    id: bytes  # "<tag>-000001": the PBX's call id; the pipeline's is "bench:<tag>-000001"
    caller: str
    lead: bool  # from an owned client: a lead is expected


def make_calls(tag: str, n: int, base: ClientBaseSeed, rng: random.Random) -> list[Call]:
    calls = []
    known = base.owned + base.unowned
    owned = set(base.owned)
    for seq in range(n):
        if rng.random() < UNKNOWN_SHARE:
            caller = f"+7916{rng.randrange(10**7):07d}"
        else:
            caller = rng.choice(known)
        calls.append(Call(f"{tag}-{seq:06d}".encode(), caller, caller in owned))
    return calls


def pbx_event(call: Call) -> bytes:
    """A generic PBX event (see the README), the same bytes for the baseline and the pipeline."""
    return json.dumps({"pbx": "bench", "call_id": call.id.decode(), "caller": call.caller,
                       "dialed": GENERAL_LINE,
                       "started_at": datetime.now(UTC).isoformat()}).encode()


def producer(bootstrap: str, **extra: Any) -> AIOKafkaProducer:
    """The producer settings of every part: acks=all, idempotent (as the services')."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                            **extra)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(50):
        # consumer.topics() fetches into a throw-away copy, which partitions_for_topic()
        # does not read: ask for the cluster's metadata and read that copy.
        cluster = await consumer._client.fetch_all_metadata()
        found = cluster.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await asyncio.sleep(0.2)
    raise RuntimeError(f"topic {topic} has no partitions")


class Watcher:
    """Reads the final topics from their current end and notes, per call, when its record
    was consumed here (the first one: a redelivered duplicate does not count)."""

    def __init__(self, bootstrap: str, expected: dict[str, set[bytes]]) -> None:
        self.bootstrap = bootstrap
        self.expected = expected
        self.arrivals: dict[str, dict[bytes, float]] = {t: {} for t in expected}
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                         enable_auto_commit=False)
        await self.consumer.start()
        tps = [tp for topic in self.expected for tp in await partitions_of(self.consumer, topic)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def run(self) -> None:
        assert self.consumer is not None
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=10_000)
            now = time.perf_counter()
            for tp, records in batches.items():
                seen, wanted = self.arrivals[tp.topic], self.expected[tp.topic]
                for record in records:
                    found = CALL_ID.search(record.value or b"")
                    if not found:
                        continue
                    call_id = found.group(1).rsplit(b":", 1)[-1]
                    if call_id in wanted and call_id not in seen:
                        seen[call_id] = now

    def done(self) -> int:
        return sum(len(a) for a in self.arrivals.values())

    def complete(self, topic: str) -> bool:
        return len(self.arrivals[topic]) >= len(self.expected[topic])


async def feed(bootstrap: str, topic: str, calls: list[Call], rate: float | None,
               sent: dict[bytes, float]) -> None:
    """Publishes the calls at `rate` per second, or all at once (None)."""
    kafka = producer(bootstrap)
    await kafka.start()
    try:
        start = time.perf_counter()
        for i, call in enumerate(calls):
            if rate:
                ahead = start + i / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            elif i % 200 == 0:
                await asyncio.sleep(0)  # let the watcher read meanwhile
            value = pbx_event(call)
            sent[call.id] = time.perf_counter()
            await kafka.send(topic, value, key=call.caller.encode())
        await kafka.flush()
    finally:
        await kafka.stop()


async def load_run(name: str, bootstrap: str, source: str, calls: list[Call],
                   expected: dict[str, set[bytes]], rate: float | None,
                   meter: CpuMeter | None, stall_timeout: float, say: Say,
                   logs: list[Path] | None = None) -> dict[str, Any]:
    """Feeds `calls` to `source` and waits until every expected call reached every final
    topic (the first topic of `expected` holds every call), or nothing moved for
    `stall_timeout` seconds (SETTLE_SECONDS once the first topic is complete)."""
    watcher = Watcher(bootstrap, expected)
    await watcher.start()
    watching = asyncio.create_task(watcher.run())
    log_marks = {p: p.stat().st_size if p.exists() else 0 for p in logs or []}
    sent: dict[bytes, float] = {}
    first_topic = next(iter(expected))
    try:
        if meter:
            meter.start()
        feeding = asyncio.create_task(feed(bootstrap, source, calls, rate, sent))
        last_done, last_move = 0, time.perf_counter()
        reported = time.perf_counter()
        while True:
            await asyncio.sleep(0.1)
            if watching.done():
                watching.result()
            now = time.perf_counter()
            done = watcher.done()
            if done != last_done:
                last_done, last_move = done, now
            if feeding.done():
                feeding.result()
                if all(watcher.complete(t) for t in expected):
                    break
                quiet = now - last_move
                if quiet > stall_timeout or (watcher.complete(first_topic)
                                             and quiet > SETTLE_SECONDS):
                    break
            if now - reported > 15:
                reported = now
                say(f"    {name}: " + ", ".join(
                    f"{t} {len(watcher.arrivals[t])}/{len(expected[t])}" for t in expected))
        cpu = meter.stop() if meter else None
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        await watcher.stop()
    first_sent = min(sent.values())
    last_sent = max(sent.values())
    result: dict[str, Any] = {
        "name": name, "calls": len(calls), "offered_rate": round(rate, 1) if rate else None,
        "fed_rate": round(len(calls) / (last_sent - first_sent), 1) if last_sent > first_sent
        else None,
        "topics": {},
    }
    last_done_at = first_sent
    for topic, wanted in expected.items():
        arrivals = watcher.arrivals[topic]
        latencies = [arrivals[c] - sent[c] for c in arrivals]
        last = max(arrivals.values()) if arrivals else first_sent
        last_done_at = max(last_done_at, last)
        result["topics"][topic] = {
            "expected": len(wanted), "seen": len(arrivals), "missing": len(wanted) - len(arrivals),
            "throughput": round(len(arrivals) / (last - first_sent), 1) if last > first_sent
            else None,
            "latency": latency_summary(latencies),
        }
    seconds = last_done_at - first_sent
    result["seconds"] = round(seconds, 2)
    result["throughput"] = round(len(calls) / seconds, 1) if seconds > 0 else None
    result["complete"] = all(v["missing"] == 0 for v in result["topics"].values())
    if cpu:
        result["cpu"] = cpu
        result["cpu_per_1000_calls"] = {g: round(s / len(calls) * 1000, 3)
                                        for g, s in cpu["cpu_s"].items()}
    if logs:
        lines, per_message = 0, 0
        for path, mark in log_marks.items():
            with contextlib.suppress(OSError), path.open("rb") as f:
                f.seek(mark)
                chunk = f.read()
                lines += chunk.count(b"\n")
                per_message += len(re.findall(rb"\bReceived\b|\bProcessed\b", chunk))
        result["service_log_lines_per_call"] = round(lines / len(calls), 2)
        result["faststream_received_processed_lines"] = per_message
    return result


# --------------------------------------------------------------------------- baseline hops


def stop_on_signals() -> asyncio.Event:
    """Set when the process gets SIGTERM or SIGINT (Hops.stop, Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def announce_ready(consumer: AIOKafkaConsumer) -> None:
    """Prints READY (what Hops.start waits for) once the consumer has its partitions and
    its "latest" positions are resolved: from then on, no published record is missed."""
    while not consumer.assignment():
        await asyncio.sleep(0.05)
    for tp in consumer.assignment():
        await consumer.position(tp)
    print("READY", flush=True)


async def hop_main(index: int, bootstrap: str, group: str, mode: str = "record") -> None:
    """One baseline hop: consume bench.hop<i>, produce the same key and bytes to
    bench.hop<i+1> (acks=all, idempotent, waiting for the acknowledgement), then commit: one
    record at a time, as a FastStream subscriber with AckPolicy.NACK_ON_ERROR does."""
    source, target = f"{HOP_PREFIX}{index}", f"{HOP_PREFIX}{index + 1}"
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                client_id=f"bench-hop{index}", enable_auto_commit=False,
                                auto_offset_reset="latest")
    kafka = producer(bootstrap, client_id=f"bench-hop{index}")
    stop = stop_on_signals()
    await kafka.start()
    await consumer.start()

    async def forward() -> None:
        while True:
            record = await consumer.getone()
            await kafka.send_and_wait(target, record.value, key=record.key)
            await consumer.commit()

    async def forward_batches() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH_RECORDS)
            sends = [await kafka.send(target, r.value, key=r.key)
                     for records in batches.values() for r in records]
            if sends:
                await asyncio.gather(*sends)
                await consumer.commit()

    work = [asyncio.create_task(forward() if mode == "record" else forward_batches()),
            asyncio.create_task(announce_ready(consumer))]
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([work[0], stopping], return_when=asyncio.FIRST_COMPLETED)
        if work[0] in done:
            work[0].result()
    finally:
        for task in [*work, stopping]:
            task.cancel()
        await asyncio.gather(*work, stopping, return_exceptions=True)
        await consumer.stop()
        await kafka.stop()


async def framework_hop_main(index: int, bootstrap: str, group: str, ours: bool) -> None:
    """The same hop as a FastStream subscriber that does nothing but pass the bytes on: plain
    FastStream with the services' delivery settings (acks=all, idempotent, NACK_ON_ERROR: a
    commit after each message), or (`ours`) the services' own broker, with their middlewares
    (`shared.kafka.make_broker`). What the framework costs per message, without any logic."""
    import logging

    from faststream.kafka import KafkaBroker, KafkaResponse
    from faststream.kafka.message import KafkaMessage
    from faststream.middlewares import AckPolicy

    from shared.kafka import Context, make_broker, service_router
    from shared.settings import KafkaSettings

    source, target = f"{HOP_PREFIX}{index}", f"{HOP_PREFIX}{index + 1}"
    client = f"bench-hop{index}"
    if ours:
        broker = make_broker(KafkaSettings(bootstrap=bootstrap), client)
    else:
        broker = KafkaBroker(bootstrap, client_id=client, acks="all", enable_idempotence=True,
                             ack_policy=AckPolicy.NACK_ON_ERROR,
                             logger=logging.getLogger(client), log_level=logging.DEBUG)
    router = service_router()

    async def raw(msg: Any) -> bytes:
        return msg.body

    subscriber = router.subscriber(source, group_id=group, auto_offset_reset="latest",
                                   decoder=raw)

    @subscriber
    @router.publisher(target)
    async def forward(body: bytes, msg: KafkaMessage = Context("message")) -> KafkaResponse:
        return KafkaResponse(body, key=msg.raw_message.key)

    broker.include_router(router)
    stop = stop_on_signals()
    await broker.start()
    try:
        await announce_ready(subscriber.consumer)
        await stop.wait()
    finally:
        await broker.stop()


@dataclass
class Hops:
    """The four baseline hops, each a process running this script with --hop."""

    root: Path
    bootstrap: str
    run_id: str
    mode: str = "record"
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def start(self, timeout: float = 120) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (self.root / "pids").mkdir(parents=True, exist_ok=True)
        for i in range(HOPS):
            process = subprocess.Popen(
                [sys.executable, str(HERE), "--hop", str(i), "--bootstrap", self.bootstrap,
                 "--group", f"bench-hop{i}-{self.run_id}", "--hop-mode", self.mode],
                stdout=subprocess.PIPE, stderr=(logs / f"hop{i}.log").open("ab"),
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO,
            )
            self.processes.append(process)
            (self.root / "pids" / f"hop{i}.pid").write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        for i, process in enumerate(self.processes):
            assert process.stdout is not None
            line = b""
            while not line.startswith(b"READY"):
                if process.poll() is not None:
                    raise RuntimeError(f"hop {i} exited with {process.returncode}; see "
                                       f"{logs / f'hop{i}.log'}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"hop {i} not ready after {timeout:.0f}s")
                ready, _, _ = select.select([process.stdout], [], [], min(remaining, 1.0))
                if ready:
                    line = process.stdout.readline()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for i, process in enumerate(self.processes):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
            (self.root / "pids" / f"hop{i}.pid").unlink(missing_ok=True)
        self.processes.clear()


# --------------------------------------------------------------------------- the look-up


async def bare_lookup(url: str, calls: list[Call], concurrency: int, meter: CpuMeter,
                      warmup: int) -> dict[str, Any]:
    from services.lookup.repository import ClientBase
    from shared.db import create_pool
    from shared.settings import DatabaseSettings

    pool = await create_pool(DatabaseSettings(url=url, pool_min=concurrency,
                                              pool_max=concurrency))
    clients = ClientBase(pool)
    latencies: list[float] = []

    async def loop(items: list[Call], record: bool) -> None:
        queue = list(reversed(items))

        async def worker() -> None:
            while queue:
                call = queue.pop()
                start = time.perf_counter()
                await clients.find_caller(call.caller, f"bench:{call.id.decode()}")
                if record:
                    latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    try:
        await loop(calls[:warmup], record=False)
        meter.start()
        start = time.perf_counter()
        await loop(calls, record=True)
        seconds = time.perf_counter() - start
        cpu = meter.stop()
    finally:
        await pool.close()
    return {"name": "bare look-up", "calls": len(calls), "concurrency": concurrency,
            "seconds": round(seconds, 2), "throughput": round(len(calls) / seconds, 1),
            "latency": latency_summary(latencies), "cpu": cpu,
            "cpu_per_1000_calls": {g: round(s / len(calls) * 1000, 3)
                                   for g, s in cpu["cpu_s"].items()}}


# --------------------------------------------------------------------------- topics


async def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Every topic with `partitions` partitions: created when missing, grown when it has
    fewer; one with more is an error (Kafka cannot shrink a topic)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        listed = set(await admin.list_topics())
        existing = {t["topic"]: len(t["partitions"])
                    for t in await admin.describe_topics([n for n in names if n in listed])
                    if not t.get("error_code")}
        missing = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        fewer = {n: NewPartitions(partitions) for n in names
                 if n in existing and existing[n] < partitions}
        if fewer:
            await admin.create_partitions(fewer)
        more = [f"{n} ({existing[n]})" for n in names if existing.get(n, 0) > partitions]
        if more:
            raise RuntimeError(
                f"these topics have more than {partitions} partitions: {', '.join(more)}; "
                "use that --partitions, or a fresh broker (remove .switchboard/bench)")
    finally:
        await admin.close()


# --------------------------------------------------------------------------- profiling


# Where a sample's CPU goes. A sample whose stack passes through the logging module, or
# through a hand-off to anyio's worker threads, counts as that (whatever is below it);
# any other sample counts for the innermost frame that belongs to a library or to our code
# (stdlib frames count for their caller); a sample with none is the event loop itself.
PRECEDENCE: list[tuple[str, re.Pattern[str]]] = [
    ("logging", re.compile(r"/logging/|pythonjsonlogger")),
    ("thread hand-offs (anyio worker threads)",
     re.compile(r"run_in_threadpool|anyio/to_thread|WorkerThread|run_sync_in_worker_thread")),
]
OWNERS: list[tuple[str, re.Pattern[str]]] = [
    ("OpenTelemetry", re.compile(r"/opentelemetry/")),
    ("Prometheus", re.compile(r"/prometheus_client/|/faststream/(kafka/)?prometheus/")),
    ("pydantic", re.compile(r"/pydantic(_core)?/")),
    ("asyncpg", re.compile(r"/asyncpg/")),
    ("aiokafka", re.compile(r"/aiokafka/")),
    ("FastStream, FastDepends", re.compile(r"/faststream/|/fast_depends/")),
    ("anyio", re.compile(r"/anyio/")),
    ("Switchboard code", re.compile(rf"{re.escape(str(REPO))}/(services|shared)/")),
    ("other libraries", re.compile(r"site-packages/")),
]
EVENT_LOOP = "event loop, sockets (stdlib)"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_BOOT = re.compile(r"runpy|/uvicorn/|asyncio/runners\.py|/(services/\w+/main|shared/app)\.py")
_LOOP_FUNCS = {"BaseEventLoop.run_forever", "BaseEventLoop.run_until_complete",
               "BaseEventLoop._run_once", "Handle._run"}


# Innermost frames that block (epoll with a timeout, a worker thread waiting for work): py-spy
# --nonblocking counts some of them as active, so they are left out (psutil's per-thread CPU
# shows the worker threads use a few percent of a service's CPU).
IDLE_LEAVES = {"EpollSelector.select", "Condition.wait", "Event.wait", "Thread.join",
               "Semaphore.acquire"}


def attribute(frames: list[tuple[str, str]]) -> tuple[str, str]:
    """(category, function) a sample's CPU counts for; frames from the root to the leaf."""
    inner = [(fn, fl) for fn, fl in frames if not _BOOT.search(fl) and fn not in _LOOP_FUNCS]
    for name, pattern in PRECEDENCE:
        for fn, fl in inner:
            if pattern.search(f"{fn} {fl}"):
                return name, f"{fn} ({short(fl)})"
    for fn, fl in reversed(inner):
        for name, pattern in OWNERS:
            if pattern.search(fl):
                return name, f"{fn} ({short(fl)})"
    fn, fl = inner[-1] if inner else frames[-1]
    return EVENT_LOOP, f"{fn} ({short(fl)})"


def summarise_profile(path: Path, rate: int) -> dict[str, Any]:
    """Where one service's on-CPU samples (a py-spy raw, collapsed, profile) go: by category
    (see `attribute`), and the top functions (innermost frames, and the frames charged)."""
    samples = idle = 0
    by_category: Counter[str] = Counter()
    charged: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or not stack:
            continue
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            frames.append((m.group("func"), m.group("file")) if m else (frame, ""))
        if frames[-1][0] in IDLE_LEAVES:
            idle += count
            continue
        samples += count
        name, function = attribute(frames)
        by_category[name] += count
        charged[function] += count
        leaves[f"{frames[-1][0]} ({short(frames[-1][1])})"] += count
    if not samples:
        return {"samples": 0}

    def share(n: int) -> float:
        return round(100 * n / samples, 1)

    return {
        "samples": samples, "cpu_s_sampled": round(samples / rate, 1),
        "blocking_samples_left_out": idle,
        "categories_pct": {k: share(v) for k, v in by_category.most_common()},
        "top_charged": [(n, share(c)) for n, c in charged.most_common(12)],
        "top_self": [(n, share(c)) for n, c in leaves.most_common(12)],
    }


def short(file: str) -> str:
    for marker in ("site-packages/", f"{REPO}/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profilers(services: Any, out: Path, rate: int) -> dict[str, subprocess.Popen]:
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    out.mkdir(parents=True, exist_ok=True)
    started = {}
    for name, service in services.running.items():
        started[name] = subprocess.Popen(
            [exe, "record", "--pid", str(service.process.pid), "--rate", str(rate),
             "--format", "raw", "--function", "--full-filenames", "--nonblocking",
             "-o", str(out / f"{name}.txt")],
            stdout=(out / f"{name}.py-spy.log").open("wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    time.sleep(2)
    for name, process in started.items():
        if process.poll() is not None:
            raise RuntimeError(f"py-spy on {name} exited with {process.returncode}: "
                               f"{(out / f'{name}.py-spy.log').read_text()[-2000:]}")
    return started


def stop_processes(processes: list[subprocess.Popen], sig: int = signal.SIGTERM,
                   timeout: float = 30) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- leftovers, lock


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
            ours = (f"services.{pid_file.stem}.main" in cmdline
                    or ("pipeline_bench.py" in cmdline and "--hop" in cmdline))
            if ours:
                say(f"stopping {pid_file.stem} (pid {process.pid}) left by an earlier run")
                process.terminate()
                try:
                    process.wait(15)
                except psutil.TimeoutExpired:
                    process.kill()
        pid_file.unlink(missing_ok=True)


def lock_root(root: Path) -> Any:
    handle = (root / "bench.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another benchmark runs in {root}") from None
    return handle


# --------------------------------------------------------------------------- the run


async def consumer_lag(bootstrap: str, groups: list[str]) -> dict[str, int]:
    """Per consumer group: messages not yet committed, over the partitions it committed."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        lag = {}
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            tps = [tp for tp, meta in committed.items() if meta.offset >= 0]
            ends = await consumer.end_offsets(tps) if tps else {}
            lag[group] = sum(max(0, ends[tp] - committed[tp].offset) for tp in tps)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def wait_drained(bootstrap: str, groups: list[str], say: Say, timeout: float = 900) -> None:
    """Until the services' consumer groups have nothing left to process (e.g. the backlog of
    an interrupted earlier run), so that a run measures only its own calls."""
    deadline = time.monotonic() + timeout
    reported = 0.0
    while True:
        lag = asyncio.run(consumer_lag(bootstrap, groups))
        if not any(lag.values()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the services did not drain their backlog: {lag}")
        if time.monotonic() - reported > 15:
            reported = time.monotonic()
            say("  waiting for the services to drain a backlog: " + ", ".join(
                f"{g} {n}" for g, n in lag.items() if n))
        time.sleep(2)


def tuned_kafka(root: Path, partitions: int, linger_ms: int) -> Any:
    """The broker devstack starts, with the group coordinator's append linger set: Kafka 4.x
    holds every offset commit for up to `group.coordinator.append.linger.ms` (5 ms by
    default) to batch the writes to __consumer_offsets, which a consumer that commits after
    each message waits for each time."""
    from switchboard.infra import LocalKafka

    class TunedKafka(LocalKafka):
        def _server_properties(self) -> str:
            return (super()._server_properties()
                    + f"group.coordinator.append.linger.ms={linger_ms}\n")

    return TunedKafka(root / "kafka", partitions=partitions)


def check_alive(services: Any) -> None:
    """Every service still runs (one that exits makes the figures meaningless)."""
    from switchboard.devstack import tail

    for name, service in services.running.items():
        if service.process.poll() is not None:
            raise RuntimeError(f"{name} exited with {service.process.returncode}; its log "
                               f"({service.log_path}) ends:\n{tail(service.log_path)}")


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; returns the figures (what --json prints)."""
    from shared import topics
    from shared.kafka import group_id
    from switchboard.devstack import SERVICES, Infrastructure, Services
    from switchboard.infra import free_port

    say = Say(options.json)
    root = options.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = lock_root(root)
    stop_bench_leftovers(root, say)
    for old in (root / "logs").glob("*.log") if (root / "logs").exists() else []:
        old.unlink()  # one run's logs
    run_id = uuid.uuid4().hex[:6]
    rng = random.Random(options.seed)
    infra = Infrastructure(root, options.partitions, fast=options.fast_db)
    hops: Hops | None = None
    services: Services | None = None
    profilers: dict[str, subprocess.Popen] = {}
    # Ctrl-C is Python's KeyboardInterrupt (asyncio.run cancels the running part cleanly);
    # SIGTERM is made one too. Both end in the `finally` below.
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt),
                signal.SIGINT: signal.getsignal(signal.SIGINT)}
    result: dict[str, Any] = {
        "config": {"calls": options.calls, "partitions": options.partitions,
                   "producer": {"acks": "all", "enable_idempotence": True},
                   "lookup_concurrency": options.lookup_concurrency,
                   "clients": CLIENTS, "owned_share": 0.75, "unknown_callers": UNKNOWN_SHARE,
                   "database_fsync": not options.fast_db,
                   "coordinator_linger_ms": options.coordinator_linger_ms, "run_id": run_id},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    kafka = None
    try:
        if options.coordinator_linger_ms is not None:
            from shared.settings import KafkaSettings

            if "bootstrap" in KafkaSettings(_env_file=None).model_fields_set:
                raise SystemExit("--coordinator-linger-ms needs a broker started here: unset "
                                 "SWITCHBOARD_KAFKA_BOOTSTRAP")
            say("starting Apache Kafka (KRaft) with group.coordinator.append.linger.ms="
                f"{options.coordinator_linger_ms}...")
            kafka = tuned_kafka(root, options.partitions, options.coordinator_linger_ms)
            os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"] = kafka.start()
            try:
                infra.start(log=say)
            finally:
                del os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"]
            infra.kafka = kafka  # stopped, and measured, as the one devstack starts
        else:
            infra.start(log=say)
        hop_topics = [f"{HOP_PREFIX}{i}" for i in range(HOPS + 1)]
        asyncio.run(ensure_topics(infra.bootstrap, [t.name for t in topics.ALL] + hop_topics,
                                  options.partitions))
        broker_pid, db_pid, how_broker, how_db = infra_pids(infra)
        result["machine"] = {"cpus": psutil.cpu_count(), "cpu_model": _cpu_model(),
                             "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                             "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
        result["infrastructure"] = {"broker": how_broker, "database": how_db,
                                    "broker_pid_measured": broker_pid is not None,
                                    "database_pid_measured": db_pid is not None}
        infra_groups = {"broker": ([broker_pid] if broker_pid else [], False),
                        "database": ([db_pid] if db_pid else [], True),
                        "bench": ([os.getpid()], False)}

        say("seeding the client base (400 clients, 3 in 4 owned)...")
        base = asyncio.run(seed_client_base(infra.database_url, run_id, rng))
        calls = {phase: make_calls(f"{run_id}{phase}", n, base, rng) for phase, n in (
            ("bw", options.warmup), ("jit", BROKER_WARMUP_ROUNDS * options.warmup),
            ("bmax", options.calls), ("bhalf", options.calls),

            ("pw", options.warmup), ("pmax", options.calls), ("phalf", options.calls),
            ("prof", options.calls), ("pwarn", options.calls), ("pwarnw", options.warmup),
            ("look", options.calls))}

        # ---- baseline
        say("baseline: starting four aiokafka hops as processes...")
        hops = Hops(root, infra.bootstrap, run_id)
        hops.start()
        meter = CpuMeter({"hops": (hops.pids, True), **infra_groups})
        final = f"{HOP_PREFIX}{HOPS}"

        def baseline(phase: str, rate: float | None, name: str, meter: CpuMeter | None
                     ) -> dict[str, Any]:
            return asyncio.run(load_run(
                name, infra.bootstrap, f"{HOP_PREFIX}0", calls[phase],
                {final: {c.id for c in calls[phase]}}, rate, meter, options.stall_timeout, say))

        # The broker's JVM compiles its hot paths during the first few thousand messages:
        # measured first, the baseline would pay for it (2.2-2.6 ms of broker CPU per call
        # instead of 0.9-1.1).
        baseline("jit", None, "broker warm-up", None)
        baseline("bw", None, "baseline warm-up", None)
        say(f"baseline: {options.calls} calls at the maximum rate...")
        base_max = baseline("bmax", None, "baseline, max rate", meter)
        half_rate = base_max["throughput"] / 2
        say(f"  {base_max['throughput']} calls/s; now {options.calls} calls at {half_rate:.0f}/s")
        base_half = baseline("bhalf", half_rate, "baseline, 50% load", meter)
        result["baseline"] = {"max": base_max, "half": base_half}
        hops.stop()
        hops = None
        if options.references:
            # Not for the targets: what the same chain costs taking whole fetched batches
            # (Kafka's own limit), and as FastStream subscribers without logic (the framework).
            result["references"] = {}
            for mode, label in REFERENCE_CHAINS.items():
                say(f"reference: {label}...")
                hops = Hops(root, infra.bootstrap, f"{run_id}{mode}", mode=mode)
                hops.start()
                meter = CpuMeter({"hops": (hops.pids, True), **infra_groups})
                baseline("bw", None, f"{mode} warm-up", None)
                ref = {"max": baseline("bmax", None, f"{mode}, max rate", meter)}
                if mode != "batch":
                    ref["half"] = baseline("bhalf", half_rate, f"{mode}, 50% load", meter)
                result["references"][mode] = ref
                say(f"  {ref['max']['throughput']} calls/s")
                hops.stop()
                hops = None

        # ---- pipeline
        rules = bench_rules(root)
        env = {**infra.env(), "SWITCHBOARD_ROUTER_RULES_FILE": str(rules)}
        routed, assigned = topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name

        def pipeline(phase: str, rate: float | None, name: str, meter: CpuMeter | None
                     ) -> dict[str, Any]:
            assert services is not None
            every = {c.id for c in calls[phase]}
            # the first topic holds every call; the intermediate ones show each stage's pace
            expected = {routed: every, assigned: {c.id for c in calls[phase] if c.lead}}
            if options.stages:  # the watcher's own CPU grows with the topics it reads
                expected |= {topics.CALLS_RECEIVED.name: every, topics.CALLS_ENRICHED.name: every}
            wait_drained(infra.bootstrap, [group_id(n) for n in services.running], say)
            pids = {n: s.process.pid for n, s in services.running.items()}
            before = thread_cpu(pids)
            measured = asyncio.run(load_run(
                name, infra.bootstrap, topics.PBX_EVENTS.name, calls[phase], expected, rate,
                meter, options.stall_timeout, say,
                logs=[s.log_path for s in services.running.values()]))
            check_alive(services)
            after = thread_cpu(pids)
            per = 1000 / len(calls[phase])
            measured["threads_cpu_per_1000_calls"] = {
                n: {"event_loop_thread": round((after[n][0] - before[n][0]) * per, 3),
                    "other_threads": round((after[n][1] - before[n][1]) * per, 3)}
                for n in pids if n in before and n in after}
            return measured

        def start_services(extra: dict[str, str]) -> CpuMeter:
            nonlocal services
            say("pipeline: starting intake, lookup, router and assignment...")
            services = Services(root, {**env, **extra})
            # Ports the kernel picks: the services' usual ports (8001-8004) are what every
            # other stack on the machine tries first, and Services.wait_ready would take
            # another stack's answer on a port our service failed to bind for ours.
            for name in SERVICES:
                services.start(name, free_port())
            services.wait_ready(180)
            time.sleep(1)
            check_alive(services)
            groups = {name: ([services.running[name].process.pid], True) for name in SERVICES}
            return CpuMeter({**groups, **infra_groups})

        meter = start_services({})
        pipeline("pw", None, "pipeline warm-up", None)
        say(f"pipeline: {options.calls} calls at the maximum rate...")
        pipe_max = pipeline("pmax", None, "pipeline, max rate", meter)
        say(f"  {pipe_max['throughput']} calls/s; now {options.calls} calls at {half_rate:.0f}/s "
            "(50% of the baseline's maximum)")
        pipe_half = pipeline("phalf", half_rate, "pipeline, 50% of baseline max", meter)
        result["pipeline"] = {"max": pipe_max, "half": pipe_half}

        if options.profile:
            out = root / "profiles"
            say(f"profile: py-spy on the four services, {options.calls} calls at the "
                f"maximum rate (raw stacks in {out})...")
            profilers = start_profilers(services, out, options.profile_rate)
            profiled = pipeline("prof", None, "pipeline under py-spy", meter)
            stop_processes(list(profilers.values()), signal.SIGINT, 60)
            profilers = {}
            result["profile"] = {
                "run": {k: profiled[k] for k in ("throughput", "seconds")},
                "rate_hz": options.profile_rate, "folder": str(out),
                "services": {name: summarise_profile(out / f"{name}.txt", options.profile_rate)
                             for name in SERVICES if (out / f"{name}.txt").exists()},
            }
            for name, summary in result["profile"]["services"].items():
                summary["cpu_s_psutil"] = profiled.get("cpu", {}).get("cpu_s", {}).get(name)

        if options.compare_log_level:
            services.stop_all()
            quiet = {f"SWITCHBOARD_{name.upper()}_LOG_LEVEL": "WARNING" for name in SERVICES}
            meter = start_services(quiet)
            pipeline("pwarnw", None, "pipeline warm-up (WARNING)", None)
            say(f"pipeline, services at log level WARNING: {options.calls} calls at the "
                "maximum rate...")
            result["pipeline"]["max_log_warning"] = pipeline(
                "pwarn", None, "pipeline, max rate, log level WARNING", meter)
        services.stop_all()
        services = None

        # ---- the bare look-up, alone on the database
        say(f"bare look-up: {options.calls} x ClientBase.find_caller, "
            f"concurrency {options.lookup_concurrency}...")
        result["lookup"] = asyncio.run(bare_lookup(
            infra.database_url, calls["look"], options.lookup_concurrency,
            CpuMeter(infra_groups), options.warmup))
        (root / "last-run.json").write_text(json.dumps(result, indent=2))  # kept if below fails
        result["ratios"], result["targets"] = verdict(result, final, routed, assigned)
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        (root / "last-run.json").write_text(json.dumps(result, indent=2))
        return result
    finally:
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleaning up
        say("stopping what the benchmark started...")
        with contextlib.suppress(Exception):
            stop_processes(list(profilers.values()), signal.SIGINT, 30)
        if hops is not None:
            with contextlib.suppress(Exception):
                hops.stop()
        if services is not None:
            with contextlib.suppress(Exception):
                services.stop_all()
        infra.stop()
        if kafka is not None:
            kafka.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        lock.close()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def verdict(result: dict[str, Any], final: str, routed: str, assigned: str
            ) -> tuple[dict[str, Any], dict[str, Any]]:
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
    services_cpu = sum(v for k, v in pipe_max.get("cpu_per_1000_calls", {}).items()
                       if k not in ("broker", "database", "bench"))
    hops_cpu = base_max.get("cpu_per_1000_calls", {}).get("hops")
    if hops_cpu:
        ratios["cpu_per_call_services_over_hops"] = round(services_cpu / hops_cpu, 2)
    for mode, ref in result.get("references", {}).items():
        ratios[f"{mode}_over_baseline_throughput"] = round(
            ref["max"]["throughput"] / base_max["throughput"], 3)
    limit = 2 * (base_p99 + lookup_p99)
    p99_assigned = p99(pipe_half, assigned)
    targets = {
        "throughput": {
            "wanted": "pipeline max throughput >= 50% of the baseline's",
            "pipeline": pipe_max["throughput"], "baseline": base_max["throughput"],
            "met": pipe_max["throughput"] >= 0.5 * base_max["throughput"]},
        "latency": {
            "wanted": "pipeline p99 to leads.assigned at 50% load <= "
                      "2 x (baseline p99 at 50% load + bare look-up p99)",
            "pipeline_p99_ms": p99_assigned, "limit_ms": round(limit, 2),
            "baseline_p99_ms": base_p99, "lookup_p99_ms": lookup_p99,
            "met": p99_assigned <= limit and pipe_half["complete"]},
    }
    return ratios, targets


# --------------------------------------------------------------------------- the report


def report(result: dict[str, Any]) -> str:
    from shared import topics

    routed, assigned = topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name
    final = f"{HOP_PREFIX}{HOPS}"
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
        for topic in (routed, assigned):
            t = run["topics"][topic]
            row(f"    to {topic} ({t['expected']} calls)", t["throughput"], t["latency"],
                missing(run, topic))
        stages = [(n, run["topics"][n]) for n in (topics.CALLS_RECEIVED.name,
                                                   topics.CALLS_ENRICHED.name, routed, assigned)
                  if n in run["topics"]]
        if len(stages) > 2:
            lines.append("    per stage, calls/s (p50 ms): " + ", ".join(
                f"{n} {s['throughput']} ({s['latency'].get('p50_ms')})" for n, s in stages))

    lines += ["", "CPU seconds per 1,000 calls (psutil)",
              (f"{'':32} {'hops/services':>13} {'intake':>7} {'lookup':>7} {'router':>7} "
               f"{'assign':>7} {'broker':>7} {'db':>7} {'bench':>7}  machine busy, other procs")]
    runs = [("baseline max", b["max"]), ("baseline 50%", b["half"]),
            *[(f"{mode} max", ref["max"])
              for mode, ref in result.get("references", {}).items()],
            ("pipeline max", p["max"]), ("pipeline 50% of baseline max", p["half"])]
    if p.get("max_log_warning"):
        runs.append(("pipeline max, WARNING logs", p["max_log_warning"]))
    runs.append(("bare look-up", lk))
    for label, run in runs:
        per = run.get("cpu_per_1000_calls", {})
        cpu = run.get("cpu", {})
        procs = per.get("hops", sum(per.get(s, 0.0) for s in
                                    ("intake", "lookup", "router", "assignment")))

        def c(name: str, per: dict[str, float] = per) -> str:
            return f"{per[name]:7.2f}" if name in per else f"{'':7}"
        util = cpu.get("machine_util")
        other = cpu.get("other_s", 0) / cpu["wall_s"] / cpu["cpus"] if cpu.get("wall_s") else 0
        lines.append(
            f"{label:32} {procs:13.2f} {c('intake')} {c('lookup')} {c('router')} "
            f"{c('assignment')} {c('broker')} {c('database')} {c('bench')}  "
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
                   f"{r['p99_half_load_assigned']:.1f}x to leads.assigned"
                   + (f"; CPU per call of the services {cpu_ratio:.1f}x the hops'"
                      if cpu_ratio else ""))]
    for mode in result.get("references", {}):
        lines.append(f"{mode} chain / baseline: throughput "
                     f"{r[f'{mode}_over_baseline_throughput']:.2f} at the maximum rate")
    tt, tl = t["throughput"], t["latency"]
    lines.append(f"target {'MET   ' if tt['met'] else 'MISSED'} throughput >= 50% of the "
                 f"baseline: {tt['pipeline']} vs {tt['baseline']} calls/s "
                 f"({100 * tt['pipeline'] / tt['baseline']:.0f}%)")
    lines.append(f"target {'MET   ' if tl['met'] else 'MISSED'} p99 at 50% load <= 2 x (baseline "
                 f"p99 + look-up p99) = 2 x ({tl['baseline_p99_ms']} + {tl['lookup_p99_ms']}) "
                 f"= {tl['limit_ms']} ms: {tl['pipeline_p99_ms']} ms to leads.assigned")

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
        for name, s in prof["services"].items():
            if not s.get("samples"):
                continue
            cats = ", ".join(f"{k} {v}%" for k, v in s["categories_pct"].items() if v >= 1)
            lines.append(f"  {name} ({s['cpu_s_sampled']} CPU s sampled, psutil "
                         f"{s.get('cpu_s_psutil')} s): {cats}")
            lines.append("    top: " + "; ".join(f"{n} {v}%" for n, v in s["top_charged"][:5]))
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=Options.calls,
                   help="calls per measured run (default %(default)s)")
    p.add_argument("--partitions", type=int, default=Options.partitions,
                   help="partitions of every topic (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                   help="folder of the benchmark's own Kafka, PostgreSQL and logs")
    p.add_argument("--lookup-concurrency", type=int, default=Options.lookup_concurrency)
    p.add_argument("--warmup", type=int, default=Options.warmup, help="warm-up calls per part")
    p.add_argument("--profile", action="store_true",
                   help="add a pipeline run under py-spy and print where the services spend CPU")
    p.add_argument("--compare-log-level", action="store_true",
                   help="add a max-rate pipeline run with the services at log level WARNING")
    p.add_argument("--fast-db", action="store_true",
                   help="PostgreSQL without fsync (only for a database started here)")
    p.add_argument("--coordinator-linger-ms", type=int, default=None,
                   help="start the broker with this group.coordinator.append.linger.ms "
                        "(Kafka's default: 5), to see what offset commits cost")
    p.add_argument("--stages", action="store_true",
                   help="also time calls.received and calls.enriched (the watcher then reads "
                        "four topics, and takes more of the machine)")
    p.add_argument("--no-references", dest="references", action="store_false",
                   help="leave out the reference chains (hops in batches, FastStream hops)")
    p.add_argument("--stall-timeout", type=float, default=Options.stall_timeout)
    p.add_argument("--hop", type=int, help=argparse.SUPPRESS)
    p.add_argument("--bootstrap", help=argparse.SUPPRESS)
    p.add_argument("--group", help=argparse.SUPPRESS)
    p.add_argument("--hop-mode", default="record", help=argparse.SUPPRESS)
    return p


def execute(options: Options) -> int:
    result = run(options)
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print()
        print(report(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.hop is not None:
        if args.hop_mode in ("faststream", "switchboard"):
            asyncio.run(framework_hop_main(args.hop, args.bootstrap, args.group,
                                           ours=args.hop_mode == "switchboard"))
        else:
            asyncio.run(hop_main(args.hop, args.bootstrap, args.group, args.hop_mode))
        return 0
    options = Options(calls=args.calls, partitions=args.partitions, json=args.json,
                      root=args.root, lookup_concurrency=args.lookup_concurrency,
                      warmup=args.warmup, profile=args.profile,
                      compare_log_level=args.compare_log_level, fast_db=args.fast_db,
                      coordinator_linger_ms=args.coordinator_linger_ms,
                      stall_timeout=args.stall_timeout, stages=args.stages,
                      references=args.references)
    try:
        return execute(options)
    except KeyboardInterrupt:
        print("interrupted; everything the benchmark started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
