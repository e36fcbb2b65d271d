"""Live updates, per replica: one tail of the topics people must see (`shared.tail`), the
calls this replica heard of since it started, and the fan-out of each change to the browsers'
event streams connected here.

Each browser has its own bounded queue: a browser that reads too slowly loses the updates it
could not take, instead of holding up the others, and is told to draw its page again from
the database (`Resync`), so nothing it missed is lost.

A lead that waits in the head's inbox is announced by no event: the assignment only records
it. The desk hears the qualified call the router sends to the commercial department, and
tells the screens once the lead of that call is in the database (`InboxArrived`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import ConsumerRecord
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ValidationError

from services.desk.policy import DeskCall, DeskEvent, heard
from services.desk.sales import Alert, Reported, alert_of_detected
from shared import topics
from shared.events import (CallEnriched, CallLifecycle, CallQualified, CallRouted, DealClosed,
                           Destination, LeadAssigned, ShoppingAroundDetected, Stage)

log = logging.getLogger(__name__)

# What the screens listen to, and the event each topic carries.
LIVE_EVENTS: dict[topics.Topic, type[BaseModel]] = {
    topics.CALLS_ENRICHED: CallEnriched,
    topics.CALLS_ROUTED: CallRouted,
    topics.CALLS_LIFECYCLE: CallLifecycle,
    topics.CALLS_QUALIFIED: CallQualified,
    topics.LEADS_ASSIGNED: LeadAssigned,
    topics.DEALS_CLOSED: DealClosed,
    topics.ALERTS_SHOPPING_AROUND: ShoppingAroundDetected,
}
_BY_NAME = {topic.name: event for topic, event in LIVE_EVENTS.items()}
_CALL_EVENTS = (CallEnriched, CallRouted, CallLifecycle, CallQualified)

# About 2 KB each: the calls of the last hours of a busy desk.
REMEMBERED_CALLS = 20_000
# Outcomes heard whose lead the assignment may not have closed yet.
REMEMBERED_OUTCOMES = 5_000
# How long the desk looks for the lead of a call the router sent to the commercial department
# (the assignment may be behind, or down for a while), and how often at most.
ARRIVAL_WATCH_SECONDS = 60.0
ARRIVAL_POLL_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0)

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


@dataclass(frozen=True)
class LeadDecided:
    """A lead got its assignee (leads.assigned): kept, passed on, or handed out at the
    deadline."""

    event: LeadAssigned


@dataclass(frozen=True)
class DealDone:
    """A lead's outcome (deals.closed)."""

    event: DealClosed


@dataclass(frozen=True)
class AlertRaised:
    """A client seems to be shopping around (alerts.shopping-around)."""

    alert: Alert


@dataclass(frozen=True)
class InboxArrived:
    """The lead of a qualified call waits in the head's inbox now."""

    call_id: str
    lead_id: uuid.UUID


Change = CallChanged | LeadDecided | DealDone | AlertRaised | InboxArrived


class Resync:
    """The stream fell behind: its page must be drawn again from the database."""


RESYNC = Resync()


def reaches_inbox(routed: CallRouted) -> bool:
    """A qualified call the router sends to the commercial department makes a lead that the
    head keeps at once or that waits in the inbox."""
    return (routed.stage is Stage.QUALIFIED
            and routed.destination is Destination.COMMERCIAL_DEPARTMENT)


class LeadsOfCalls(Protocol):
    """Where the desk finds the lead a call made (`repository.DeskStore`)."""

    async def lead_of_call(self, call_id: str) -> tuple[uuid.UUID, bool] | None:
        """(the lead's id, whether it waits in the head's inbox), or None before it exists."""


class Stream:
    """One browser's queue of changes."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[Change | Resync] = asyncio.Queue(size)

    def offer(self, change: Change) -> None:
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)
            FELL_BEHIND.inc()

    async def next(self, timeout: float) -> Change | Resync | None:
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

    def publish(self, change: Change) -> None:
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


class RecentOutcomes:
    """The outcomes this replica heard of (or passed on) lately, by lead (bounded)."""

    def __init__(self, remembered: int = REMEMBERED_OUTCOMES) -> None:
        self._outcomes: OrderedDict[uuid.UUID, Reported] = OrderedDict()
        self._remembered = remembered

    def put(self, lead_id: uuid.UUID, reported: Reported) -> None:
        self._outcomes[lead_id] = reported
        self._outcomes.move_to_end(lead_id)
        while len(self._outcomes) > self._remembered:
            self._outcomes.popitem(last=False)

    def get(self, lead_id: uuid.UUID) -> Reported | None:
        return self._outcomes.get(lead_id)

    def all(self) -> dict[uuid.UUID, Reported]:
        return dict(self._outcomes)


class Live:
    """What the tail's records become: the replica's view of each call and of the outcomes
    told lately, and a change for the streams."""

    def __init__(self, hub: Hub, recent: RecentCalls | None = None,
                 leads: LeadsOfCalls | None = None) -> None:
        self.hub = hub
        self.recent = recent or RecentCalls()
        self.outcomes = RecentOutcomes()
        self._leads = leads
        self._watches: set[asyncio.Task[None]] = set()

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

    def hear(self, event: BaseModel) -> None:
        if isinstance(event, _CALL_EVENTS):
            self._hear_call(event)
        elif isinstance(event, LeadAssigned):
            self.hub.publish(LeadDecided(event))
        elif isinstance(event, DealClosed):
            self.outcomes.put(event.lead_id, Reported.of(event))
            self.hub.publish(DealDone(event))
        elif isinstance(event, ShoppingAroundDetected):
            self.hub.publish(AlertRaised(alert_of_detected(event)))

    def _hear_call(self, event: DeskEvent) -> None:
        if isinstance(event, CallRouted) and reaches_inbox(event):
            self._watch_arrival(event.call_id)
        call = heard(self.recent.get(event.call_id), event)
        if call is None:
            return
        self.recent.put(call)
        self.hub.publish(CallChanged(call))

    def _watch_arrival(self, call_id: str) -> None:
        if self._leads is None:
            return
        task = asyncio.get_running_loop().create_task(self._arrival(call_id),
                                                      name=f"desk-arrival-{call_id}")
        self._watches.add(task)
        task.add_done_callback(self._watches.discard)

    async def _arrival(self, call_id: str) -> None:
        assert self._leads is not None
        loop = asyncio.get_running_loop()
        until = loop.time() + ARRIVAL_WATCH_SECONDS
        for attempt in range(10_000):
            try:
                found = await self._leads.lead_of_call(call_id)
            except Exception:  # the database away for a moment: look again
                log.warning("looking for the lead of %s failed", call_id, exc_info=True)
                found = None
            if found is not None:
                lead_id, waiting = found
                if waiting:
                    self.hub.publish(InboxArrived(call_id, lead_id))
                return
            if loop.time() >= until:
                return
            await asyncio.sleep(ARRIVAL_POLL_SECONDS[min(attempt,
                                                         len(ARRIVAL_POLL_SECONDS) - 1)])

    async def close(self) -> None:
        for task in list(self._watches):
            task.cancel()
        for task in list(self._watches):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
