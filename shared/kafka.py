"""The Kafka set-up every service shares.

- The producer is idempotent with `acks=all`: a retried send never writes a message twice.
- Consumers belong to one group per service and commit only after the handler succeeded
  (`AckPolicy.NACK_ON_ERROR`; FastStream's default `ACK_FIRST` would be at-most-once).
- A message that can never be processed (bad input) is published to `calls.rejected` with the
  reason and then committed, so it never stops a consumer. Any other failure (database or
  broker away) is not committed: the message is redelivered once the cause is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import TracebackType
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from pydantic import ValidationError

from shared import topics
from shared.events import CallRejected, derive_event_id, truncate_payload, utcnow
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

# Pause before a failed (transient) message is redelivered, so an outage is not a hot loop.
REDELIVERY_PAUSE_SECONDS = 1.0


def group_id(service: str) -> str:
    """The consumer group of a service: all its replicas share it."""
    return f"switchboard-{service}"


class PermanentError(Exception):
    """Input that will never be processable: it goes to `calls.rejected`, not back to Kafka."""

    def __init__(
        self,
        reason: str,
        *,
        where: str | None = None,
        call_id: str | None = None,
        dialect: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where
        self.call_id = call_id
        self.dialect = dialect


def describe_validation_error(error: ValidationError) -> tuple[str, str | None]:
    """(reason, where) of the first problem pydantic found."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
    return first.get("msg", str(error)), where


def _rejection(service: str, record: Any, error: BaseException) -> CallRejected:
    raw: bytes = getattr(record, "value", b"") or b""
    headers = dict(getattr(record, "headers", None) or ())
    dialect = headers.get("dialect")
    call_id = None
    if isinstance(error, PermanentError):
        reason, where = error.reason, error.where
        call_id, dialect = error.call_id, error.dialect or dialect
    elif isinstance(error, ValidationError):
        reason, where = describe_validation_error(error)
    else:
        reason, where = f"{type(error).__name__}: {error}", None
    if call_id is None:
        call_id = _call_id_of(raw)
    return CallRejected(
        event_id=derive_event_id(
            "rejected", service, getattr(record, "topic", ""),
            getattr(record, "partition", ""), getattr(record, "offset", ""), raw,
        ),
        occurred_at=utcnow(),
        call_id=call_id,
        service=service,
        source_topic=getattr(record, "topic", None),
        dialect=dialect.decode() if isinstance(dialect, bytes) else dialect,
        reason=reason,
        where=where,
        payload=truncate_payload(raw),
    )


def _call_id_of(raw: bytes) -> str | None:
    try:
        value = json.loads(raw).get("call_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def rejection_middleware(service: str) -> type[BaseMiddleware]:
    class RejectToDeadLetter(BaseMiddleware):
        async def after_processed(
            self,
            exc_type: type[BaseException] | None = None,
            exc_val: BaseException | None = None,
            exc_tb: TracebackType | None = None,
        ) -> bool:
            if exc_val is None:
                return False
            if isinstance(exc_val, PermanentError | ValidationError | UnicodeDecodeError):
                rejected = _rejection(service, self.msg, exc_val)
                broker: KafkaBroker = self.context.get("broker")
                await broker.publish(rejected, topics.CALLS_REJECTED.name)
                log.warning(
                    "rejected a message from %s: %s (at %s)",
                    rejected.source_topic, rejected.reason, rejected.where,
                )
                return True  # handled: the message is committed
            log.error("processing failed, will be redelivered: %r", exc_val)
            await asyncio.sleep(REDELIVERY_PAUSE_SECONDS)
            return False

        async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
            # A handler that returns None has nothing to say: publish nothing.
            if cmd.body is None:
                return None
            return await call_next(cmd)

    return RejectToDeadLetter


def make_broker(settings: KafkaSettings, service: str) -> KafkaBroker:
    broker = KafkaBroker(
        settings.bootstrap,
        client_id=f"switchboard-{service}",
        acks="all",
        enable_idempotence=True,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        graceful_timeout=15.0,
    )
    broker.add_middleware(rejection_middleware(service))
    return broker


async def create_topics(settings: KafkaSettings, timeout: float = 60.0) -> list[str]:
    """Create every registry topic that does not exist yet; returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(t.name, settings.partitions, settings.replication_factor)
            for t in topics.ALL
            if t.name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them in the meantime
        return [t.name for t in wanted]
    finally:
        await admin.close()
