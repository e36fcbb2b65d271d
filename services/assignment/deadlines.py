"""The deadline task every replica runs in its lifespan: leads past their deadline in the
head's inbox go to the strongest available negotiator, and decided leads whose
`leads.assigned` was lost in a crash are published again.

The due times live in PostgreSQL, so a restart loses none; each due lead is claimed with
`FOR UPDATE SKIP LOCKED`, so replicas polling at the same moment never decide one lead twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from faststream.kafka import KafkaBroker

from services.assignment import service
from services.assignment.service import Assignment
from shared.events import utcnow

log = logging.getLogger(__name__)


async def deadline_round(deps: Assignment, relay_after: timedelta) -> int:
    """One pass: distribute what is due, publish again what is overdue; how many leads went."""
    now = utcnow()
    decided = await service.distribute_due(deps, now)
    for pending in decided:
        log.info("lead %s was past its deadline: %s takes it (%s, score %.4g)",
                 pending.lead_id, pending.employee_name, pending.strategy.value,
                 pending.score or 0)
        await service.publish_decided_lead(deps, pending)
    again = await service.republish_overdue(deps, now - relay_after)
    if again:
        log.warning("announced %d decided leads again (their first announcement was lost)",
                    again)
    return len(decided)


async def watch_deadlines(deps: Assignment, broker: KafkaBroker, every: float,
                          relay_after: timedelta, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if broker.running:  # the broker starts after the resources: wait for it
            try:
                await deadline_round(deps, relay_after)
            except Exception:
                log.exception("deadline round failed; trying again in %.1fs", every)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


@contextlib.asynccontextmanager
async def deadline_task(deps: Assignment, broker: KafkaBroker, every: float,
                        relay_after: timedelta) -> AsyncIterator[asyncio.Task]:
    stop = asyncio.Event()
    task = asyncio.create_task(watch_deadlines(deps, broker, every, relay_after, stop),
                               name="assignment-deadlines")
    try:
        yield task
    finally:
        stop.set()
        await task
