"""Read some topics from the end, every partition, without a consumer group, and call back
per record: what a replica needs to hear what happens from now on (the intake's ring-time
decisions, the desk's live screens), each replica all of it.

Without a group, nothing is committed and nothing is shared: a replica that starts late or
restarts misses what came before, so whoever uses a tail must be able to recover the past
elsewhere (the intake answers the fallback at the deadline; a desk page is drawn from the
database on every load).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.topics import Topic

log = logging.getLogger(__name__)

OnRecord = Callable[[ConsumerRecord], Any]  # may return an awaitable; it is awaited


class Tail:
    """`start` returns once the end of every partition of every topic is resolved, so a
    record published after it is never missed; `on_record` is then called for each record,
    in order within a partition. A failing callback is logged and the tail goes on."""

    def __init__(self, topics: Sequence[Topic], bootstrap: str, client_options: dict[str, Any],
                 on_record: OnRecord, *, name: str = "tail",
                 assignment_timeout: float = 60.0) -> None:
        self.topic_names = [t.name for t in topics]
        self.name = name
        self._on_record = on_record
        self._assignment_timeout = assignment_timeout
        # The broker answers a fetch as soon as a record is written to any partition
        # (fetch_min_bytes 1): the fetch wait only bounds an idle poll, so a short one buys no
        # latency and costs the broker and this process a fetch every few milliseconds.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=500, **client_options,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        # Without a group aiokafka assigns every partition of a subscribed topic itself, and
        # the partitions a topic gains later too.
        self._consumer.subscribe(self.topic_names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._assignment_timeout
        while not self._assigned_every_topic():
            if loop.time() > deadline:
                missing = sorted(set(self.topic_names)
                                 - {p.topic for p in self._consumer.assignment()})
                raise RuntimeError(f"{self.name}: no partitions of {', '.join(missing)} after "
                                   f"{self._assignment_timeout:.0f} s: are the topics created "
                                   "(switchboard dev up does it)?")
            await asyncio.sleep(0.05)
        partitions = list(self._consumer.assignment())
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve "the end" now, before anything is published
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._run(), name=self.name)

    def _assigned_every_topic(self) -> bool:
        assigned = {p.topic for p in self._consumer.assignment()}
        return all(name in assigned for name in self.topic_names)

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the broker away: keep trying
                log.warning("%s: reading %s failed, retrying: %r", self.name,
                            ", ".join(self.topic_names), e)
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        result = self._on_record(record)
                        if inspect.isawaitable(result):
                            await result
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("%s: the record at %s/%s/%s was not handled", self.name,
                                      record.topic, record.partition, record.offset)

    async def is_running(self) -> bool:
        """For a readiness check: the topics are being read."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._consumer.stop()
