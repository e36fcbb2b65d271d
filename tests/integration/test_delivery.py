"""The services' delivery guarantee on the real broker: a subscriber declared on
`service_router()` commits a message only after its handler succeeded; a transient failure
(the database or broker away) leaves it uncommitted and it comes again. A batch subscriber
(`shared.batches`): the same for the whole batch, and a poison record is rejected without
stopping the rest."""

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import BaseModel

from shared import batches, kafka, topics
from shared.settings import KafkaSettings
from shared.wiring import Dependencies


async def test_a_failed_message_is_redelivered_and_committed_only_after_success(infra,
                                                                              monkeypatch):
    monkeypatch.setattr(kafka, "REDELIVERY_PAUSE_SECONDS", 0.05)
    topic, group = f"delivery-{uuid.uuid4().hex[:8]}", f"delivery-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
        router = kafka.service_router()
        attempts: list[bytes] = []
        done = asyncio.Event()

        @router.subscriber(topic, group_id=group, auto_offset_reset="earliest")
        async def flaky(body: bytes) -> None:
            attempts.append(body)
            if len(attempts) == 1:
                raise ConnectionError("the database is away")
            done.set()

        broker = kafka.make_broker(KafkaSettings(bootstrap=infra.bootstrap), "delivery")
        broker.include_router(router)
        async with broker:
            await broker.start()
            await broker.publish(b"call", topic)
            await asyncio.wait_for(done.wait(), 30)
            committed = None
            for _ in range(50):  # the commit follows the handler's success
                offsets = await admin.list_consumer_group_offsets(group)
                committed = offsets.get(TopicPartition(topic, 0))
                if committed is not None and committed.offset == 1:
                    break
                await asyncio.sleep(0.1)
        assert attempts == [b"call", b"call"]
        assert committed is not None and committed.offset == 1
    finally:
        await admin.close()


async def test_a_batch_rejects_its_poison_record_goes_on_and_is_redelivered_whole_on_a_transient_failure(
        infra, monkeypatch):
    # Given a batch subscriber on a real topic, and four records: three calls and one that is
    # not JSON, keyed over three partitions
    monkeypatch.setattr(kafka, "REDELIVERY_PAUSE_SECONDS", 0.05)
    run = uuid.uuid4().hex[:8]
    source, out = (topics.Topic(f"batch-{name}-{run}", None, "", "") for name in ("in", "out"))
    service = f"batch-{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(source.name, 3, 1), NewTopic(out.name, 3, 1)])
    with contextlib.suppress(TopicAlreadyExistsError):
        await admin.create_topics([NewTopic(topics.CALLS_REJECTED.name, 1, 1)])
    try:
        router = kafka.service_router()
        seen: list[list[str]] = []
        done = asyncio.Event()

        @batches.batch_subscriber(router, source, service)
        async def handle(records: batches.Records[Ping], deps: Wiring = Wiring.inject()) -> None:
            async with batches.Batch(records, service, deps.publisher) as batch:
                items = await batch.parse(Ping)
                seen.append([item.event.call_id for item in items])
                if len(seen) == 1:  # the database away, once: the whole batch comes again
                    raise ConnectionError("the database is away")
                for item in items:
                    with batch.about(item.record):
                        await deps.publisher.publish(out, item.event, key=item.record.key)
            if sum(map(len, seen[1:])) >= 3:
                done.set()

        broker = kafka.make_broker(KafkaSettings(bootstrap=infra.bootstrap), service)
        broker.include_router(router)
        Wiring(publisher=kafka.Publisher(broker)).install(broker)
        calls = [Ping(call_id=f"{run}:{n}") for n in range(3)]
        async with broker:
            # the records are there before the consumer starts: one batch holds them all
            for n, call in enumerate(calls):
                await broker.publish(call, source.name, key=f"k{n}".encode())
            await broker.publish(b"{not json", source.name, key=b"k1")
            await broker.start()
            await asyncio.wait_for(done.wait(), 60)
            committed: dict[int, int] = {}
            for _ in range(50):
                committed = {tp.partition: o.offset for tp, o in
                             (await admin.list_consumer_group_offsets(
                                 kafka.group_id(service))).items() if tp.topic == source.name}
                if sum(committed.values()) == 4:
                    break
                await asyncio.sleep(0.1)
        # Then the transient failure redelivered the whole batch, the poison record never
        # stopped it, each call went out once with its key, and all four are committed
        assert sorted(seen[0]) == sorted(seen[1]) == sorted(c.call_id for c in calls)
        assert sum(committed.values()) == 4
        published = await read_topic(infra.bootstrap, out.name)
        assert sorted((r.key, json.loads(r.value)["call_id"]) for r in published) == [
            (f"k{n}".encode(), f"{run}:{n}") for n in range(3)]
        rejected = [json.loads(r.value) for r in await read_topic(
            infra.bootstrap, topics.CALLS_REJECTED.name)
            if json.loads(r.value)["service"] == service]
        assert rejected and {r["reason"] for r in rejected} == {rejected[0]["reason"]}
        assert rejected[0]["source_topic"] == source.name
    finally:
        await admin.close()


class Ping(BaseModel):
    call_id: str


@dataclass(frozen=True)
class Wiring(Dependencies):
    publisher: kafka.Publisher


async def read_topic(bootstrap: str, topic: str) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        records = []
        while batch := await consumer.getmany(timeout_ms=2000):
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()
