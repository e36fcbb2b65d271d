"""`--stages`: where a decided answer's time goes. A watcher reads the call's three events
(calls.received by the intake, calls.enriched by the lookup, calls.routed by the router) and
takes each one's Kafka timestamp (the producer's clock: this machine's), so a decided answer
splits into: the intake until its publish (HTTP, claim), the lookup (its queue, the look-up,
the contact, the publish), the router, and the intake's answer after the decision was
published (the listener's fetch, the answer)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.pipeline.watch import latency_summary, partitions_of
from bench.ring.load import Answer, Ask
from shared import topics

CALL_ID = re.compile(rb'"call_id":\s*"([^"]*)"')
TOPICS = (topics.CALLS_RECEIVED.name, topics.CALLS_ENRICHED.name, topics.CALLS_ROUTED.name)
STAGES = ("intake, to calls.received", "lookup, to calls.enriched", "router, to calls.routed",
          "intake, decision to answer")
LATE_SECONDS = 2.0  # after the last answer, how long decisions still come in


class StageWatch:
    """The Kafka timestamp (seconds) of each call's first record on each topic (the three
    of a ring-time answer unless `watched` names others), by the PBX's call id (the part
    after the connector's name)."""

    def __init__(self, bootstrap: str, tag: str, watched: tuple[str, ...] = TOPICS) -> None:
        self.bootstrap = bootstrap
        self.tag = tag.encode()
        self.seen: dict[str, dict[str, float]] = {t: {} for t in watched}
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                                    group_id=None, enable_auto_commit=False)
        await consumer.start()
        tps = [tp for topic in self.seen for tp in await partitions_of(consumer, topic)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self.consumer is not None
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=10_000)
            for tp, records in batches.items():
                seen = self.seen[tp.topic]
                for record in records:
                    found = CALL_ID.search(record.value or b"")
                    if found and self.tag in found.group(1):
                        call_id = found.group(1).decode().rsplit(":", 1)[-1]
                        seen.setdefault(call_id, record.timestamp / 1000)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        if self.consumer is not None:
            await self.consumer.stop()

    def summarise(self, asks: list[Ask], answers: list[Answer], wall_minus_loop: float
                  ) -> dict[str, Any]:
        """Per stage, over the answers that were decided and whose three events were seen."""
        spans: dict[str, list[float]] = {stage: [] for stage in STAGES}
        for ask, answer in zip(asks, answers, strict=True):
            if answer.status != 200 or answer.text != ask.expected:
                continue
            stamps = [self.seen[t].get(ask.call_id) for t in TOPICS]
            if None in stamps:
                continue
            received, enriched, routed = stamps
            ends = (answer.due + wall_minus_loop, received, enriched, routed,
                    answer.done + wall_minus_loop)
            for stage, start, end in zip(STAGES, ends, ends[1:], strict=False):
                spans[stage].append(max(0.0, end - start))
        return {stage: latency_summary(values) for stage, values in spans.items()}


async def offer_watched(offering: Coroutine[Any, Any, list[Answer]], bootstrap: str, tag: str,
                        asks: list[Ask], answered: Callable[[], Any]
                        ) -> tuple[list[Answer], Any, dict[str, Any]]:
    """Runs `offering` (load.offer) with a StageWatch beside it; calls `answered` (the CPU
    meter's stop) once every answer is in, before waiting for the late decisions. Returns
    the answers, what `answered` returned, and the stages."""
    watch = StageWatch(bootstrap, tag)
    await watch.start()
    try:
        wall_minus_loop = time.time() - asyncio.get_running_loop().time()
        answers = await offering
        done = answered()
        await asyncio.sleep(LATE_SECONDS)
    finally:
        await watch.stop()
    return answers, done, watch.summarise(asks, answers, wall_minus_loop)
