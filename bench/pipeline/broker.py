"""The benchmark's side of the broker: its topics, the services' consumer lag, and a broker
started with the group coordinator's linger set."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from switchboard.infra import LocalKafka


async def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Every topic with `partitions` partitions: created when missing, grown when it has
    fewer; one with more is an error (Kafka cannot shrink a topic)."""
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


async def consumer_lag(bootstrap: str, groups: list[str]) -> dict[str, int]:
    """Per consumer group: messages not yet committed, over the partitions it committed."""
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


def wait_drained(bootstrap: str, groups: list[str], say: Callable[[str], None],
                 timeout: float = 900) -> None:
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


@dataclass
class TunedKafka(LocalKafka):
    """The broker devstack starts, with the group coordinator's append linger set: Kafka 4.x
    holds every offset commit for up to `group.coordinator.append.linger.ms` (5 ms by
    default) to batch the writes to __consumer_offsets, which a consumer that commits after
    each message waits for each time."""

    linger_ms: int = 5

    def _server_properties(self) -> str:
        return (super()._server_properties()
                + f"group.coordinator.append.linger.ms={self.linger_ms}\n")
