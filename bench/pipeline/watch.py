"""One measured part: feed the calls, watch them arrive on the final topics, and summarise
throughput, latency (the send and the arrival on the same clock) and CPU."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.pipeline.cpu import CpuMeter, per_1000_calls
from bench.pipeline.load import Call, feed

CALL_ID = re.compile(rb'"call_id":\s*"([^"]*)"')
SETTLE_SECONDS = 60.0  # after every call is routed, how long to wait for missing leads


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


async def load_run(name: str, bootstrap: str, source: str, calls: list[Call],
                   expected: dict[str, set[bytes]], rate: float | None,
                   meter: CpuMeter | None, stall_timeout: float, say: Callable[[str], None],
                   logs: list[Path] | None = None,
                   feeder: Callable[[dict[bytes, float]], Awaitable[None]] | None = None
                   ) -> dict[str, Any]:
    """Feeds `calls` to `source` and waits until every expected call reached every final
    topic (the first topic of `expected` holds every call), or nothing moved for
    `stall_timeout` seconds (SETTLE_SECONDS once the first topic is complete).

    `feeder(sent)` sends the calls another way than to `source` (notes each call's send time
    in `sent`); it may take a call out of the `expected` sets, when the call was refused and
    goes nowhere."""
    watcher = Watcher(bootstrap, expected)
    await watcher.start()
    watching = asyncio.create_task(watcher.run())
    log_marks = {p: p.stat().st_size if p.exists() else 0 for p in logs or []}
    sent: dict[bytes, float] = {}
    first_topic = next(iter(expected))
    try:
        if meter:
            meter.start()
        feeding = asyncio.create_task(
            feeder(sent) if feeder else feed(bootstrap, source, calls, rate, sent))
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
        result["cpu_per_1000_calls"] = per_1000_calls(cpu, len(calls))
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
