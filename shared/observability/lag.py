"""The consumer lag of a service's consumer groups, as a Prometheus metric."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.core import GaugeMetricFamily

from shared.observability.metrics import PREFIX

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)


class ConsumerLag:
    """Lag per partition of the consumer groups of a broker's subscribers: the end offset of
    each partition minus the group's committed offset (the beginning when none is committed).

    Refreshed when `/metrics` is scraped, at most every `min_interval` seconds and within
    `timeout` (a stale value is kept when Kafka does not answer in time): one group-offsets
    request per group and one end-offsets request per scrape. Every replica of a service
    reports its whole group's lag; aggregate replicas with `max`.

    `client_options` are the security keyword arguments of an aiokafka client
    (`shared.kafka.client_options`).
    """

    def __init__(self, broker: KafkaBroker, bootstrap: str, client_options: dict[str, Any],
                 min_interval: float = 5.0, timeout: float = 3.0) -> None:
        self.broker, self.bootstrap, self.client_options = broker, bootstrap, client_options
        self.min_interval, self.timeout = min_interval, timeout
        self.values: dict[tuple[str, str, int], int] = {}
        self._refreshed = float("-inf")
        self._lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def groups(self) -> dict[str, set[str]]:
        """group id -> the topics its subscribers read."""
        found: dict[str, set[str]] = {}
        for subscriber in self.broker.subscribers:
            group = getattr(subscriber, "group_id", None)
            if group:
                found.setdefault(group, set()).update(getattr(subscriber, "topic_names", ()))
        return found

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag",
            "Messages not yet processed, per partition of the service's consumer group.",
            labels=["group", "topic", "partition"],
        )
        for (group, topic, partition), value in sorted(self.values.items()):
            lag.add_metric([group, topic, str(partition)], value)
        yield lag

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._refreshed < self.min_interval:
                return
            try:
                await asyncio.wait_for(self._refresh(), self.timeout)
            except Exception as error:  # Kafka away: keep the last values, try again later
                log.debug("consumer lag not refreshed: %r", error)
                await self.close()  # and start with new connections next time
            self._refreshed = time.monotonic()

    async def _refresh(self) -> None:
        groups = self.groups()
        if not groups:
            return
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                              **self.client_options)
            await self._admin.start()
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                              group_id=None, enable_auto_commit=False,
                                              **self.client_options)
            await self._consumer.start()
        consumer = self._consumer
        wanted = sorted({topic for names in groups.values() for topic in names})
        partitions = {
            meta["topic"]: [TopicPartition(meta["topic"], p["partition"])
                            for p in meta["partitions"]]
            for meta in await self._admin.describe_topics(wanted)
            if meta["topic"] in wanted and not meta["error_code"]
        }
        every = [tp for tps in partitions.values() for tp in tps]
        ends = await consumer.end_offsets(every)
        starts = await consumer.beginning_offsets(every)
        values = {}
        for group, names in groups.items():
            committed = await self._admin.list_consumer_group_offsets(group)
            for topic in names:
                for tp in partitions.get(topic, ()):
                    meta = committed.get(tp)
                    position = meta.offset if meta is not None and meta.offset >= 0 \
                        else starts[tp]
                    values[(group, topic, tp.partition)] = max(0, ends[tp] - position)
        self.values = values

    async def close(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        for close in (consumer.stop if consumer else None, admin.close if admin else None):
            if close is not None:
                try:
                    await close()
                except Exception as error:
                    log.debug("closing a lag client: %r", error)
