"""The ring-time decisions, as every intake replica sees them: request-reply over Kafka.

A PBX asks whom to ring and waits. The replica that took the request registers a waiter for
the call id *before* it publishes the call, then waits for the call's ring-time `CallRouted`.
The decision may land on any partition of `calls.routed`, so each replica reads every
partition of it (a `shared.tail.Tail`), without a consumer group, from the end (what was
decided before it started is not its business), and resolves the waiter of the call, if it
has one.

Decisions seen lately are kept (bounded) so a PBX that asks again for the same call, on this
replica, gets the same decision without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from shared.events import CallRouted, Stage

log = logging.getLogger(__name__)

# How many recent decisions a replica remembers for repeated requests (about 1 KB each).
REMEMBERED_DECISIONS = 50_000


class RoutedCalls:
    """Waiters for ring-time decisions, resolved from `calls.routed`."""

    def __init__(self, remembered: int = REMEMBERED_DECISIONS) -> None:
        self._waiters: dict[str, list[asyncio.Future[CallRouted]]] = {}
        self._recent: OrderedDict[str, CallRouted] = OrderedDict()
        self._remembered = remembered

    def known(self, call_id: str) -> CallRouted | None:
        """The ring-time decision of a call, if this replica saw it."""
        return self._recent.get(call_id)

    def expect(self, call_id: str) -> asyncio.Future[CallRouted]:
        """A future resolved with the call's decision. Register it before publishing the call,
        or the decision can come back before anyone listens."""
        future: asyncio.Future[CallRouted] = asyncio.get_running_loop().create_future()
        decided = self._recent.get(call_id)
        if decided is not None:
            future.set_result(decided)
        else:
            self._waiters.setdefault(call_id, []).append(future)
        return future

    def forget(self, call_id: str, future: asyncio.Future[CallRouted]) -> None:
        """The waiter gave up (deadline passed) or got its answer."""
        waiting = self._waiters.get(call_id)
        if waiting and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._waiters[call_id]

    async def wait(self, call_id: str, future: asyncio.Future[CallRouted], timeout: float
                   ) -> CallRouted | None:
        """The decision, or None when it did not come within `timeout` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            self.forget(call_id, future)

    def decided(self, routed: CallRouted) -> None:
        """A ring-time decision arrived: remember it and wake who waits for it."""
        if routed.stage is not Stage.RING:
            return
        self._recent[routed.call_id] = routed
        self._recent.move_to_end(routed.call_id)
        while len(self._recent) > self._remembered:
            self._recent.popitem(last=False)
        for future in self._waiters.pop(routed.call_id, []):
            if not future.done():
                future.set_result(routed)

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiters.values())


def decided_record(routed: RoutedCalls) -> Callable[[ConsumerRecord], None]:
    """What the intake's tail of `calls.routed` (shared.tail) does with each record."""

    def on_record(record: ConsumerRecord) -> None:
        try:
            routed.decided(CallRouted.model_validate_json(record.value))
        except (ValidationError, ValueError, TypeError):
            log.warning("calls.routed holds an unreadable record at %s/%s",
                        record.partition, record.offset)

    return on_record
