"""The intake's Kafka entry point: PBX events in from `pbx.events`."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from services.intake.dialects import adapt
from services.intake.service import Intake, accept_all
from shared import topics
from shared.batches import Batch, Item, Records, batch_subscriber
from shared.errors import PermanentError
from shared.events import utcnow
from shared.kafka import service_router

router = service_router()


def header(record: ConsumerRecord, name: str) -> str | None:
    value = dict(record.headers or ()).get(name)
    return value.decode() if isinstance(value, bytes) else value


@batch_subscriber(router, topics.PBX_EVENTS, "intake")
async def accept_on_pbx_event(records: Records[bytes],
                              deps: Intake = Intake.inject()) -> None:
    """Kafka headers: `dialect` (default `generic`), `pbx` (the PBX's name, for dialects whose
    payload does not carry it; default: the dialect's name)."""
    # A batch of events; one no adapter can read is rejected, and the others go on.
    async with Batch(records, "intake", deps.publisher) as batch:
        now = utcnow()
        events = []
        for record in batch.records:
            dialect = header(record, "dialect") or "generic"
            try:
                events.append(Item(record, adapt(
                    dialect, record.value or b"", region=deps.rules.default_region, now=now,
                    pbx=header(record, "pbx") or dialect)))
            except PermanentError as error:
                await batch.reject(record, error)
        await accept_all(deps, batch, events)
