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
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import BaseMiddleware
from faststream._internal.context.context_type import Context as _FastStreamContext
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.security import parse_security
from faststream.middlewares import AckPolicy
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from shared import topics
from shared.errors import PermanentError, describe_validation_error
from shared.events import CallRejected, Event, derive_event_id, truncate_payload, utcnow
from shared.observability.logs import CallContext
from shared.observability.metrics import EventCounters, prometheus_middleware
from shared.observability.tracing import CarryTraceContext, telemetry_middleware
from shared.settings import KafkaSettings, ServiceSettings
from shared.tls import client_context

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger(__name__)

# The producer's batch per partition; under the brokers' default message.max.bytes (1 MiB).
PRODUCER_BATCH_BYTES = 512 * 1024

# Pause before a failed (transient) message is redelivered, so an outage is not a hot loop.
REDELIVERY_PAUSE_SECONDS = 1.0


def service_router() -> KafkaRouter:
    """The router a service declares its handlers on. The acknowledgement policy must be set
    here, not only on the broker: FastStream 0.7 fixes a subscriber's auto-commit and message
    class when the subscriber is declared, before the router joins the broker, so a broker-level
    policy alone leaves auto-commit on and a failed message committed (at-most-once)."""
    return KafkaRouter(ack_policy=AckPolicy.NACK_ON_ERROR)


class Context(_FastStreamContext):
    """FastStream's `Context()`, resolved on the event loop. FastDepends runs a synchronous
    custom field (FastStream's own `Context`, and the `KafkaMessage` annotation) in a worker
    thread, once per parameter and message: a thread hand-off costs more than the look-up.
    An async `use` is awaited in place. Handlers take their collaborators with this one."""

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return super().use(**kwargs)


def group_id(service: str) -> str:
    """The consumer group of a service: all its replicas share it."""
    return f"switchboard-{service}"


def rejection(service: str, record: Any, error: BaseException) -> CallRejected:
    """What `calls.rejected` says of a record that can never be processed."""
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
            # A batch rejects its bad records itself (`shared.batches`); what escapes it is
            # transient.
            if (isinstance(exc_val, PermanentError | ValidationError | UnicodeDecodeError)
                    and not isinstance(self.msg, tuple)):
                rejected = rejection(service, self.msg, exc_val)
                await Publisher(self.context.get("broker")).publish(topics.CALLS_REJECTED,
                                                                    rejected)
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


# The sends of the current `Publisher.together()` block that Kafka has not confirmed yet.
_UNCONFIRMED: ContextVar[list[asyncio.Future[Any]] | None] = ContextVar(
    "switchboard_unconfirmed_sends", default=None)


class PublisherPort(Protocol):
    """What the services call on `Publisher` (the tests' in-memory publisher stands in for it)."""

    async def publish(self, topic: topics.Topic, event: Event, *, key: bytes | None = None
                      ) -> None: ...

    async def confirm(self) -> None: ...

    def together(self) -> contextlib.AbstractAsyncContextManager[None]: ...


class Publisher:
    """The one way a service publishes: an event to a registry topic, with its key. Returns
    once Kafka acknowledged it (the producer uses acks=all), so what comes after (marking a
    call published, committing the input) happens only for what is safely written.

    Inside `together()` (a batch of input), `publish` hands the record to the producer and
    returns; the block's end waits for Kafka to confirm them all, so a batch costs one wait,
    not one per event. Each record keeps its key (its partition), and the producer sends them
    in the order given, so the order per key holds."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, topic: topics.Topic, event: Event, *, key: bytes | None = None
                      ) -> None:
        unconfirmed = _UNCONFIRMED.get()
        if unconfirmed is None:
            await self._broker.publish(event, topic.name, key=key)
        else:
            sent = await self._broker.publish(event, topic.name, key=key, no_confirm=True)
            if isinstance(sent, asyncio.Future):  # FastStream's in-memory broker: done
                unconfirmed.append(sent)

    async def confirm(self) -> None:
        """Within `together()`: returns once Kafka confirmed what was published so far (before
        recording it as published); a failed send raises."""
        unconfirmed = _UNCONFIRMED.get()
        if unconfirmed:
            sent = list(unconfirmed)
            unconfirmed.clear()
            _raise_first(await asyncio.gather(*sent, return_exceptions=True))

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """Publishes within are confirmed together, at the end; any failed send raises there
        (the batch is not committed, and is redelivered)."""
        unconfirmed: list[asyncio.Future[Any]] = []
        token = _UNCONFIRMED.set(unconfirmed)
        try:
            yield
        finally:
            _UNCONFIRMED.reset(token)
            # Waited for even when the block failed: no send is left behind unobserved.
            results = await asyncio.gather(*unconfirmed, return_exceptions=True)
        _raise_first(results)


def _raise_first(results: list[Any]) -> None:
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        raise failed


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """TLS that checks the brokers' certificates (and names) against the CA file, or the
    system's trust store; with a client certificate when one is configured."""
    return client_context("SWITCHBOARD_KAFKA_", settings.ssl_ca_file,
                          settings.ssl_cert_file, settings.ssl_key_file)


def security(settings: KafkaSettings) -> BaseSecurity | None:
    """FastStream's security object for the configured protocol; None for PLAINTEXT."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    if not settings.sasl_username or settings.sasl_password is None:
        raise ValueError(
            f"SWITCHBOARD_KAFKA_SECURITY_PROTOCOL={protocol} needs SWITCHBOARD_KAFKA_SASL_USERNAME "
            "and SWITCHBOARD_KAFKA_SASL_PASSWORD")
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512}[settings.sasl_mechanism]
    return sasl(settings.sasl_username, settings.sasl_password.get_secret_value(),
                ssl_context=context, use_ssl=protocol == "SASL_SSL")


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """The security keyword arguments of an aiokafka client (producer, consumer, admin)."""
    return parse_security(security(settings))


def make_broker(
    settings: KafkaSettings,
    service: str,
    *,
    tracer_provider: TracerProvider | None = None,
    spans: bool = False,
    message_log_level: int | str = logging.DEBUG,
) -> KafkaBroker:
    """The broker of a service, with its middlewares, outermost first: the call id for the
    log lines, the trace context, the dead-letter rejection (which also drops the publishing
    of a handler's None), FastStream's Prometheus metrics, the business counters.

    The trace context: with `spans` (traces are exported) or a `tracer_provider`, an
    OpenTelemetry span for every message consumed and published; without, no spans (they
    cost 7-8% of a service's CPU for nothing) and the context a message came with is passed
    on to what it causes. `message_log_level` is the level of FastStream's two lines per
    message ("Received", "Processed"): DEBUG keeps them out of an INFO log."""
    tracing = (telemetry_middleware(tracer_provider)
               if spans or tracer_provider is not None else CarryTraceContext)
    broker = KafkaBroker(
        settings.bootstrap,
        client_id=f"switchboard-{service}",
        acks="all",
        enable_idempotence=True,
        # aiokafka's default (16 KiB) holds one or two enriched calls (up to 9 KB each): a
        # batch's sends to a partition would each wait for the one before to be sent.
        max_batch_size=PRODUCER_BATCH_BYTES,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        graceful_timeout=15.0,
        security=security(settings),
        # A plain logger: FastStream's own prints to stdout past our log configuration.
        logger=logging.getLogger(f"switchboard.{service}.broker"),
        log_level=logging.getLevelName(message_log_level)
        if isinstance(message_log_level, str) else message_log_level,
        middlewares=(
            CallContext,
            tracing,
            rejection_middleware(service),
            prometheus_middleware(service),
            EventCounters,
        ),
    )
    broker.context.set_global("kafka_settings", settings)  # for the lag of /metrics
    return broker


def service_broker(settings: ServiceSettings, service: str) -> KafkaBroker:
    """The broker of a service process, set up from its settings: spans when traces are
    exported, FastStream's per-message lines at the configured level."""
    return make_broker(settings.kafka, service, spans=settings.otlp_endpoint is not None,
                       message_log_level=settings.message_log_level)


async def create_topics(settings: KafkaSettings, timeout: float = 60.0) -> list[str]:
    """Create every registry topic that does not exist yet; returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **client_options(settings))
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
