"""The Prometheus metrics of a service (all prefixed `switchboard_`) and its `/metrics`.

- FastStream's Prometheus middleware: messages received and processed by topic (`handler`)
  and status, published by topic (`destination`) and status, handler latency histograms.
- Derived from the events as they are published: calls by destination, shopping-around
  alerts, leads by strategy, rejected messages by service and source topic.
- Database pool connections in use and idle.
- (The consumer lag: `shared.observability.lag`.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, Counter, make_asgi_app
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel

from shared import topics

if TYPE_CHECKING:
    import asyncpg

    from shared.observability.lag import ConsumerLag

PREFIX = "switchboard"


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
        if isinstance(result, asyncio.Future):  # sent unconfirmed: counted once confirmed
            result.add_done_callback(lambda sent: None if sent.cancelled() or sent.exception()
                                     else self._count(cmd))
        else:
            self._count(cmd)
        return result

    @staticmethod
    def _count(cmd: Any) -> None:
        for body in cmd.batch_bodies:
            count_published(cmd.destination, body)


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
    try:
        registry.unregister(collector)  # type: ignore[arg-type]
    except KeyError:
        pass


class MetricsEndpoint:
    """`GET /metrics`: prometheus_client's ASGI app, after refreshing the consumer lag."""

    def __init__(self, lag: ConsumerLag | None, registry: CollectorRegistry = REGISTRY) -> None:
        self.lag = lag
        self.app = make_asgi_app(registry)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.lag is not None:
            await self.lag.refresh()
        await self.app(scope, receive, send)
