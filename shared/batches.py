"""Batch consumption: a service's Kafka input taken a fetched batch at a time, one round of
work and one commit per batch (FastStream's per-message dispatch and commit cost more than
most handlers' own work).

- `batch_subscriber` declares the subscriber: up to `MAX_RECORDS` records across the assigned
  partitions, in offset order per partition. A poll returns as soon as a record is there,
  and waits up to `POLL_TIMEOUT_MS` when none comes. (FastStream's batch subscriber also
  sleeps `batch_timeout_ms` after every empty poll, so a record arriving then waited up to
  that long at every hop, or the poll spun: `_LongPoll` polls again at once.)
- `Batch` is one batch in a handler. A record that can never be processed (not JSON, not the
  event, a `PermanentError` while handling it) goes to `calls.rejected` and the rest of the
  batch goes on; any other failure (database or broker away) leaves the whole batch
  uncommitted, and it is redelivered (`AckPolicy.NACK_ON_ERROR` seeks every partition back
  to the batch's first record). What the batch publishes is confirmed together, before the
  commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from types import TracebackType
from typing import Annotated, Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.message import StreamMessage
from pydantic import BaseModel, SkipValidation, ValidationError

from shared import topics
from shared.errors import PermanentError
from shared.kafka import PublisherPort, group_id, rejection
from shared.observability.logs import CALL_ID, call_id_of
from shared.observability.tracing import CARRIED_TRACE, TRACE_HEADERS

log = logging.getLogger(__name__)

MAX_RECORDS = 500
POLL_TIMEOUT_MS = 500
# Without partitions (before the group assigned some) a poll returns at once: pause.
UNASSIGNED_PAUSE_SECONDS = 0.1

E = TypeVar("E", bound=BaseModel)

# A batch handler's first parameter: `records: Records[CallReceived]`. At run time it holds
# the batch's records as fetched, unvalidated (`Batch.parse` makes the events); it is typed
# as the topic's event so that the AsyncAPI document describes each message as it is.
Records = Annotated[E, SkipValidation()]


async def fetched_records(msg: StreamMessage[Any]) -> tuple[ConsumerRecord, ...]:
    """The batch's decoder: the records themselves; `Batch.parse` decides what each means, so
    one bad record does not fail the others."""
    return msg.raw_message  # type: ignore[no-any-return]


def batch_subscriber(router: KafkaRouter, topic: topics.Topic, service: str, **options: Any
                     ) -> Any:
    """`@batch_subscriber(router, topics.X, "lookup")` over
    `async def h(records: Records[X], ...)`:
    the service's group, from the earliest offset when the group is new."""
    subscriber = router.subscriber(
        topic.name, group_id=group_id(service), auto_offset_reset="earliest", batch=True,
        max_records=MAX_RECORDS, batch_timeout_ms=POLL_TIMEOUT_MS, decoder=fetched_records,
        **options)
    subscriber.__class__ = _long_polling(type(subscriber))
    return subscriber


class _LongPoll:
    """A batch subscriber's poll without FastStream's sleep after an empty one."""

    __slots__ = ()
    batch_timeout_ms: int
    max_records: int | None

    async def get_msg(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:
        if not consumer.assignment():
            await asyncio.sleep(UNASSIGNED_PAUSE_SECONDS)
            return ()
        fetched = await consumer.getmany(timeout_ms=self.batch_timeout_ms,
                                         max_records=self.max_records)
        return tuple(chain.from_iterable(fetched.values()))


@functools.cache
def _long_polling(cls: type) -> type:
    # No slots of its own: the subscriber FastStream made becomes one in place.
    return type(f"LongPolling{cls.__name__}", (_LongPoll, cls), {"__slots__": ()})


@dataclass(frozen=True)
class Item(Generic[E]):
    """One record of a batch and the event it holds."""

    record: ConsumerRecord
    event: E


class Batch:
    """One batch in a handler: `async with Batch(records, "lookup", publisher) as batch:`."""

    def __init__(self, records: Sequence[ConsumerRecord], service: str,
                 publisher: PublisherPort) -> None:
        self.records, self.service, self.publisher = tuple(records), service, publisher
        self.rejected = 0
        self._together: contextlib.AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> Batch:
        self._together = self.publisher.together()
        await self._together.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._together is not None
        await self._together.__aexit__(exc_type, exc, tb)

    async def parse(self, model: type[E]) -> list[Item[E]]:
        """The records' events, in batch order; a record that is not one is rejected."""
        items: list[Item[E]] = []
        for record in self.records:
            try:
                items.append(Item(record, model.model_validate_json(record.value or b"")))
            except (ValidationError, UnicodeDecodeError) as error:
                await self.reject(record, error)
        return items

    async def handle_each(self, model: type[E], handle: Callable[[E], Awaitable[None]]) -> None:
        """Each record's event handled on its own, in batch order (`each`)."""
        for item in await self.parse(model):
            async with self.each(item):
                await handle(item.event)

    async def reject(self, record: ConsumerRecord, error: BaseException) -> None:
        rejected = rejection(self.service, record, error)
        await self.publisher.publish(topics.CALLS_REJECTED, rejected)
        self.rejected += 1
        log.warning("rejected a message from %s: %s (at %s)", rejected.source_topic,
                    rejected.reason, rejected.where)

    @contextlib.contextmanager
    def about(self, record: ConsumerRecord) -> Iterator[None]:
        """While one record is handled: its call id on the log lines, and its trace context
        on what is published because of it."""
        carried = {name: value.decode("latin-1") if isinstance(value, bytes) else value
                   for name, value in record.headers or () if name in TRACE_HEADERS}
        trace_token = CARRIED_TRACE.set(carried or None)
        call_token = CALL_ID.set(call_id_of(record.value))
        try:
            yield
        finally:
            CALL_ID.reset(call_token)
            CARRIED_TRACE.reset(trace_token)

    @contextlib.asynccontextmanager
    async def each(self, item: Item[Any]) -> AsyncIterator[None]:
        """Handles one record on its own: a `PermanentError` rejects it, and the batch goes
        on."""
        with self.about(item.record):
            try:
                yield
            except PermanentError as error:
                await self.reject(item.record, error)
