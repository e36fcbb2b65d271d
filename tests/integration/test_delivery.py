"""The services' delivery guarantee on the real broker: a subscriber declared on
`service_router()` commits a message only after its handler succeeded; a transient failure
(the database or broker away) leaves it uncommitted and it comes again."""

import asyncio
import uuid

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared import kafka
from shared.settings import KafkaSettings


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
