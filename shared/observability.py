"""What ops teams see of a running service: Prometheus metrics, OpenTelemetry traces and
structured logs. `shared.kafka.make_broker` puts the broker middlewares in place and
`shared.app` serves `/metrics` and configures logs and tracing, so services need nothing.

Metrics (all prefixed `switchboard_`):
- FastStream's Prometheus middleware: messages received and processed by topic (`handler`)
  and status, published by topic (`destination`) and status, handler latency histograms.
- Derived from the events as they are published: calls by destination, shopping-around
  alerts, leads by strategy, rejected messages by service and source topic.
- Consumer lag per partition of the service's consumer group, refreshed when scraped.
- Database pool connections in use and idle.

Traces: with an OTLP endpoint configured, FastStream's OpenTelemetry middleware puts the W3C
trace context into the Kafka headers of every message it publishes and continues it on every
message it consumes, so one call is one trace across the four services. Without one, no spans
are made in the Kafka path (`CarryTraceContext` passes the context a message came with on to
what it causes), and the webhooks' spans go nowhere.

Logs: one JSON object per line, with the `call_id` of the message being processed and caller
numbers masked.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import REGISTRY, CollectorRegistry, Counter, make_asgi_app
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel
from pythonjsonlogger.json import JsonFormatter

from shared import topics

if TYPE_CHECKING:
    import asyncpg
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient
    from faststream.kafka import KafkaBroker

    from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

PREFIX = "switchboard"


# --- metrics -------------------------------------------------------------------------------


def prometheus_middleware(service: str, registry: CollectorRegistry = REGISTRY
                          ) -> KafkaPrometheusMiddleware:
    """Received / processed / published messages by topic, and handler latency, labelled
    `app_name=<service>`. Several brokers in one process (tests) share the metrics."""
    return KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix=PREFIX)


CALLS_ROUTED = Counter(
    f"{PREFIX}_calls_routed", "Routing decisions published (calls.routed), by destination.",
    ["destination"],
)
SHOPPING_ALERTS = Counter(
    f"{PREFIX}_shopping_alerts", "Shopping-around alerts published (alerts.shopping-around)."
)
LEADS_ASSIGNED = Counter(
    f"{PREFIX}_leads_assigned", "Leads announced (leads.assigned), by strategy.", ["strategy"]
)
REJECTED = Counter(
    f"{PREFIX}_rejected_messages",
    "Messages that could not be processed (calls.rejected), by the rejecting service and the "
    "topic they came from (`http` for webhooks).",
    ["service", "source_topic"],
)


def _field(body: Any, name: str) -> Any:
    if isinstance(body, BaseModel):
        value = getattr(body, name, None)
    elif isinstance(body, dict):
        value = body.get(name)
    elif isinstance(body, bytes | str):
        try:
            value = json.loads(body).get(name)
        except (ValueError, AttributeError):
            return None
    else:
        return None
    return getattr(value, "value", value)  # an enum member counts by its value


def count_published(destination: str, body: Any) -> None:
    """The business counters, read off an event Kafka has just acknowledged."""
    if destination == topics.CALLS_ROUTED.name:
        CALLS_ROUTED.labels(str(_field(body, "destination"))).inc()
    elif destination == topics.ALERTS_SHOPPING_AROUND.name:
        SHOPPING_ALERTS.inc()
    elif destination == topics.LEADS_ASSIGNED.name:
        LEADS_ASSIGNED.labels(str(_field(body, "strategy"))).inc()
    elif destination == topics.CALLS_REJECTED.name:
        REJECTED.labels(str(_field(body, "service")), str(_field(body, "source_topic"))).inc()


class EventCounters(BaseMiddleware):
    """Counts what the services publish, whoever publishes it (a returned event, a publisher,
    `broker.publish`), once the broker acknowledged it."""

    async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
        result = await call_next(cmd)
        for body in cmd.batch_bodies:
            count_published(cmd.destination, body)
        return result


def _unregister(registry: CollectorRegistry, collector: object) -> None:
    try:
        registry.unregister(collector)  # type: ignore[arg-type]
    except KeyError:
        pass


class PoolCollector:
    """asyncpg pool use, read when scraped."""

    def __init__(self, pool: asyncpg.Pool, name: str) -> None:
        self.pool, self.name = pool, name

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        connections = GaugeMetricFamily(
            f"{PREFIX}_db_pool_connections", "Database pool connections, by state.",
            labels=["pool", "state"],
        )
        connections.add_metric([self.name, "in_use"], size - idle)
        connections.add_metric([self.name, "idle"], idle)
        yield connections
        limit = GaugeMetricFamily(
            f"{PREFIX}_db_pool_max_connections", "Largest size the pool may grow to.",
            labels=["pool"],
        )
        limit.add_metric([self.name], self.pool.get_max_size())
        yield limit


def watch_pool(pool: asyncpg.Pool, name: str, registry: CollectorRegistry = REGISTRY
               ) -> PoolCollector:
    collector = PoolCollector(pool, name)
    registry.register(collector)  # type: ignore[arg-type]
    return collector


def unwatch(collector: object, registry: CollectorRegistry = REGISTRY) -> None:
    _unregister(registry, collector)


class ConsumerLag:
    """Lag per partition of the consumer groups of a broker's subscribers: the end offset of
    each partition minus the group's committed offset (the beginning when none is committed).

    Refreshed when `/metrics` is scraped, at most every `min_interval` seconds and within
    `timeout` (a stale value is kept when Kafka does not answer in time): one group-offsets
    request per group and one end-offsets request per scrape. Every replica of a service
    reports its whole group's lag; aggregate replicas with `max`.
    """

    def __init__(self, broker: KafkaBroker, settings: KafkaSettings,
                 min_interval: float = 5.0, timeout: float = 3.0) -> None:
        self.broker, self.settings = broker, settings
        self.min_interval, self.timeout = min_interval, timeout
        self.values: dict[tuple[str, str, int], int] = {}
        self._refreshed = float("-inf")
        self._lock = asyncio.Lock()
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def groups(self) -> dict[str, set[str]]:
        """group id -> the topics its subscribers read."""
        found: dict[str, set[str]] = {}
        for subscriber in self.broker.subscribers:
            group = getattr(subscriber, "group_id", None)
            if group:
                found.setdefault(group, set()).update(getattr(subscriber, "topic_names", ()))
        return found

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag",
            "Messages not yet processed, per partition of the service's consumer group.",
            labels=["group", "topic", "partition"],
        )
        for (group, topic, partition), value in sorted(self.values.items()):
            lag.add_metric([group, topic, str(partition)], value)
        yield lag

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._refreshed < self.min_interval:
                return
            try:
                await asyncio.wait_for(self._refresh(), self.timeout)
            except Exception as error:  # Kafka away: keep the last values, try again later
                log.debug("consumer lag not refreshed: %r", error)
                await self.close()  # and start with new connections next time
            self._refreshed = time.monotonic()

    async def _refresh(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        from shared.kafka import client_options

        groups = self.groups()
        if not groups:
            return
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap,
                                              **client_options(self.settings))
            await self._admin.start()
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.bootstrap,
                                              group_id=None, enable_auto_commit=False,
                                              **client_options(self.settings))
            await self._consumer.start()
        consumer = self._consumer
        wanted = sorted({topic for names in groups.values() for topic in names})
        partitions = {
            meta["topic"]: [TopicPartition(meta["topic"], p["partition"])
                            for p in meta["partitions"]]
            for meta in await self._admin.describe_topics(wanted)
            if meta["topic"] in wanted and not meta["error_code"]
        }
        every = [tp for tps in partitions.values() for tp in tps]
        ends = await consumer.end_offsets(every)
        starts = await consumer.beginning_offsets(every)
        values = {}
        for group, names in groups.items():
            committed = await self._admin.list_consumer_group_offsets(group)
            for topic in names:
                for tp in partitions.get(topic, ()):
                    meta = committed.get(tp)
                    position = meta.offset if meta is not None and meta.offset >= 0 \
                        else starts[tp]
                    values[(group, topic, tp.partition)] = max(0, ends[tp] - position)
        self.values = values

    async def close(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        for close in (consumer.stop if consumer else None, admin.close if admin else None):
            if close is not None:
                try:
                    await close()
                except Exception as error:
                    log.debug("closing a lag client: %r", error)


class MetricsEndpoint:
    """`GET /metrics`: prometheus_client's ASGI app, after refreshing the consumer lag."""

    def __init__(self, lag: ConsumerLag | None, registry: CollectorRegistry = REGISTRY) -> None:
        self.lag = lag
        self.app = make_asgi_app(registry)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.lag is not None:
            await self.lag.refresh()
        await self.app(scope, receive, send)


# --- traces --------------------------------------------------------------------------------


def telemetry_middleware(tracer_provider: trace.TracerProvider | None = None
                         ) -> KafkaTelemetryMiddleware:
    """Spans for every message consumed and published; the trace context travels in the
    Kafka headers. Without a provider, the process-wide one (see `configure_tracing`)."""
    return KafkaTelemetryMiddleware(tracer_provider=tracer_provider)


def tracer_provider(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """The process's tracer provider: spans (a webhook's; the Kafka path's when exporting,
    see `shared.kafka.make_broker`) are exported only when an OTLP/HTTP endpoint is
    configured: the collector's base URL, to which the traces path is added as the OTel SDK
    does for OTEL_EXPORTER_OTLP_ENDPOINT."""
    provider = TracerProvider(resource=Resource.create(
        {"service.name": f"{PREFIX}-{service}", "service.namespace": PREFIX}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        url = otlp_endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider


def configure_tracing(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """The process-wide tracer provider (set once, when a service process starts)."""
    provider = tracer_provider(service, otlp_endpoint)
    trace.set_tracer_provider(provider)
    return provider


# Requests that are not about calls make no spans.
UNTRACED_PATHS = ("/health/", "/metrics", "/docs", "/openapi.json")


class TraceRequests:
    """A server span around each HTTP request (continuing a `traceparent` the caller sent), so
    an event published while answering a webhook starts its trace at the request."""

    def __init__(self, app: Any, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.app = app
        self.tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNTRACED_PATHS):
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self.tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as span:

            async def send_with_status(message: dict) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                await send(message)

            await self.app(scope, receive, send_with_status)
            route = scope.get("route")
            if getattr(route, "path", None):  # the template, not the path: few span names
                span.update_name(f"{scope['method']} {route.path}")
                span.set_attribute("http.route", route.path)


# --- logs ----------------------------------------------------------------------------------

# The call the current message is about; set for each message the service receives.
CALL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)


def call_id_of(raw: bytes | None) -> str | None:
    """The `call_id` of a JSON event; for a `generic` PBX event, `<pbx>:<call id>` as the
    pipeline spells it."""
    if not raw or not raw.lstrip().startswith(b"{"):
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    call_id = data.get("call_id") if isinstance(data, dict) else None
    if not isinstance(call_id, str):
        return None
    pbx = data.get("pbx")
    if isinstance(pbx, str) and pbx and not call_id.startswith(f"{pbx}:") \
            and "event_type" not in data:
        return f"{pbx}:{call_id}"
    return call_id


class CallContext(BaseMiddleware):
    """Puts the `call_id` of each received message where the log lines find it.

    Set when the message arrives, before FastStream logs "Received", and left in place until
    the next message arrives (which sets it again, to its own call or None), because
    FastStream logs "Processed" after the middlewares exited.
    """

    async def on_receive(self) -> None:
        CALL_ID.set(call_id_of(getattr(self.msg, "value", None)))


TRACE_HEADERS = ("traceparent", "tracestate")
CARRIED_TRACE: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "switchboard_carried_trace", default=None)


class CarryTraceContext(BaseMiddleware):
    """The trace context without spans (no traces exported): a message's `traceparent` and
    `tracestate` headers are put on what is published while it is handled, so a service that
    does export continues the same trace. Outside a consumed message (a webhook), the
    current span's context is put there, as the OpenTelemetry middleware would."""

    async def on_receive(self) -> None:
        headers = getattr(self.msg, "headers", None) or ()
        carried = {name: value.decode("latin-1") if isinstance(value, bytes) else value
                   for name, value in headers if name in TRACE_HEADERS}
        self._carried = CARRIED_TRACE.set(carried or None)

    async def after_processed(self, exc_type: Any = None, exc_val: Any = None,
                              exc_tb: Any = None) -> bool:
        # After the handler's result was published too. A reset, not None: FastStream's
        # in-memory broker handles a published message inside the publisher's handler.
        CARRIED_TRACE.reset(self._carried)
        return False

    async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
        if (carried := CARRIED_TRACE.get()) is not None:
            for name, value in carried.items():
                cmd.headers.setdefault(name, value)
        elif trace.get_current_span().get_span_context().is_valid:
            propagate.inject(cmd.headers)
        return await call_next(cmd)


class CallIdFilter(logging.Filter):
    """Adds `call_id` (and the trace id) to the records written while a message about a call
    is processed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_id", None) is None and (call_id := CALL_ID.get()):
            record.call_id = call_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = format(span.trace_id, "032x")
        return True


# A phone number as people and PBXs write it: 7 to 15 digits, perhaps a leading +, spaces,
# dashes, dots or parentheses between them; not part of a longer word, id, time or path.
_PHONE = re.compile(r"(?<![\w+:./-])\+?\(?\d(?:[\s().-]{0,2}\d){6,14}(?![\w:/-])")


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    plus = text.startswith("+")
    if not plus and len(digits) < 10:  # dates, amounts, offsets
        return text
    head = digits[: max(0, min(4, len(digits) - 7))]
    return f"{'+' if plus else ''}{head}***{digits[-4:]}"


def mask_phones(text: str) -> str:
    """`+79161234567` -> `+7916***4567`: enough to tell calls apart, not to dial."""
    return _PHONE.sub(_mask, text)


class MaskPhonesFilter(logging.Filter):
    """Masks caller numbers in the message (with its arguments filled in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: logging reports it when formatting
            return True
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class _Masking:
    """Masks numbers in tracebacks too (a validation error quotes the input)."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return mask_phones(super().formatException(ei))  # type: ignore[misc]

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return mask_phones(super().formatStack(stack_info))  # type: ignore[misc]


class JsonLines(_Masking, JsonFormatter):
    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {"time": log_data.pop("time", None), **log_data}  # the time first, to read


class TextLines(_Masking, logging.Formatter):
    pass


# Attributes of records that are not worth a JSON field.
_NOT_FIELDS = ("color_message", "taskName")


class QuietAccessLog(logging.Filter):
    """Drops uvicorn's access lines for health checks and scrapes."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (len(args) >= 3 and str(args[2]).startswith(UNTRACED_PATHS))


def log_handler(service: str, fmt: str = "json", stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS

        handler.setFormatter(JsonLines(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            reserved_attrs=[*RESERVED_ATTRS, *_NOT_FIELDS],
            timestamp="time",  # ISO 8601 in UTC, to the microsecond
        ))
    else:
        handler.setFormatter(TextLines(
            f"%(asctime)s %(levelname)s {service} %(name)s [%(call_id)s]: %(message)s",
            defaults={"call_id": "-"}))
    handler.addFilter(CallIdFilter())
    handler.addFilter(MaskPhonesFilter())
    return handler


def configure_logging(service: str, level: str = "INFO", fmt: str = "json",
                      stream: Any = None) -> logging.Handler:
    """Every log line of the process through one handler on the root logger: ours,
    FastStream's, uvicorn's."""
    handler = log_handler(service, fmt, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # FastStream's own loggers print to stdout and stop there: send them to the root instead.
    for name in ("faststream", "faststream.access", "faststream.access.kafka"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").addFilter(QuietAccessLog())
    return handler
