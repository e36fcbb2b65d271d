"""Live updates, per replica: one tail of the topics people must see (`shared.tail`), the
calls this replica heard of since it started, and the fan-out of each change to the browsers'
event streams connected here.

Each browser has its own bounded queue: a browser that reads too slowly loses the updates it
could not take, instead of holding up the others, and is told to draw its page again from
the database (`Resync`), so nothing it missed is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from services.desk.policy import DeskCall, DeskEvent, heard
from shared import topics
from shared.events import CallEnriched, CallLifecycle, CallQualified, CallRouted

log = logging.getLogger(__name__)

# What the screens listen to, and the event each topic carries.
LIVE_EVENTS: dict[topics.Topic, type[DeskEvent]] = {
    topics.CALLS_ENRICHED: CallEnriched,
    topics.CALLS_ROUTED: CallRouted,
    topics.CALLS_LIFECYCLE: CallLifecycle,
    topics.CALLS_QUALIFIED: CallQualified,
}
_BY_NAME = {topic.name: event for topic, event in LIVE_EVENTS.items()}

# About 2 KB each: the calls of the last hours of a busy desk.
REMEMBERED_CALLS = 20_000

STREAMS = Gauge("switchboard_desk_streams", "Browsers' event streams connected to this replica.")
FELL_BEHIND = Counter(
    "switchboard_desk_stream_resyncs",
    "Times a browser fell behind its stream's queue and was drawn again from the database.")


@dataclass(frozen=True)
class CallChanged:
    """A call changed. `rendered` keeps what the streams rendered of it (a card per language),
    so that a hundred screens showing one card render it once."""

    call: DeskCall
    rendered: dict[Any, str] = field(default_factory=dict, compare=False, repr=False)


class Resync:
    """The stream fell behind: its page must be drawn again from the database."""


RESYNC = Resync()


class Stream:
    """One browser's queue of changes."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[CallChanged | Resync] = asyncio.Queue(size)

    def offer(self, change: CallChanged) -> None:
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)
            FELL_BEHIND.inc()

    async def next(self, timeout: float) -> CallChanged | Resync | None:
        """The next change, or None when none came within `timeout` seconds."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None


class Hub:
    """The fan-out of one replica: every change to every connected stream."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._streams: set[Stream] = set()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Stream]:
        stream = Stream(self.queue_size)
        self._streams.add(stream)
        STREAMS.inc()
        try:
            yield stream
        finally:
            self._streams.discard(stream)
            STREAMS.dec()

    def publish(self, change: CallChanged) -> None:
        for stream in list(self._streams):
            stream.offer(change)

    @property
    def connected(self) -> int:
        return len(self._streams)


class RecentCalls:
    """The calls this replica heard of since it started, newest last (bounded)."""

    def __init__(self, remembered: int = REMEMBERED_CALLS) -> None:
        self._calls: OrderedDict[str, DeskCall] = OrderedDict()
        self._remembered = remembered

    def get(self, call_id: str) -> DeskCall | None:
        return self._calls.get(call_id)

    def put(self, call: DeskCall) -> None:
        self._calls[call.call_id] = call
        self._calls.move_to_end(call.call_id)
        while len(self._calls) > self._remembered:
            self._calls.popitem(last=False)

    def all(self) -> list[DeskCall]:
        return list(self._calls.values())


class Live:
    """What the tail's records become: the replica's view of each call, and a change for the
    streams."""

    def __init__(self, hub: Hub, recent: RecentCalls | None = None) -> None:
        self.hub = hub
        self.recent = recent or RecentCalls()

    def on_record(self, record: ConsumerRecord) -> None:
        model = _BY_NAME.get(record.topic)
        if model is None:
            return
        try:
            event = model.model_validate_json(record.value)
        except (ValidationError, ValueError, TypeError):
            log.warning("%s holds an unreadable record at %s/%s", record.topic,
                        record.partition, record.offset)
            return
        self.hear(event)

    def hear(self, event: DeskEvent) -> None:
        call = heard(self.recent.get(event.call_id), event)
        if call is None:
            return
        self.recent.put(call)
        self.hub.publish(CallChanged(call))
