"""The HTTP side every service shares: an ASGI app whose lifespan runs the broker and the
database pool, the `/health/live` and `/health/ready` endpoints and the Prometheus `/metrics`;
and `serve`, which configures the logs and the tracing of the process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg
import uvicorn
from fastapi import FastAPI, Response
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field

from shared.db import create_pool
from shared.kafka import client_options
from shared.observability.lag import ConsumerLag
from shared.observability.logs import configure_logging
from shared.observability.metrics import MetricsEndpoint, unwatch, watch_pool
from shared.observability.tracing import CarryRequestTrace, configure_tracing, trace_requests
from shared.settings import SERVICE_SETTINGS, KafkaSettings, ServiceSettings

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

ReadyCheck = Callable[[], Awaitable[bool]]


class Liveness(BaseModel):
    status: str = Field(examples=["live"])
    service: str


class Readiness(BaseModel):
    status: str = Field(description="ready, or not ready (503).", examples=["ready"])
    service: str
    checks: dict[str, bool] = Field(description="Each dependency: does it answer?",
                                    examples=[{"kafka": True, "database": True}])


@asynccontextmanager
async def database(settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database)
    gauge = watch_pool(pool, service_name(settings))
    try:
        yield pool
    finally:
        unwatch(gauge)
        await pool.close()


def service_name(settings: ServiceSettings) -> str:
    for name, cls in SERVICE_SETTINGS.items():
        if isinstance(settings, cls):
            return name
    return type(settings).__name__


async def pool_ready(pool: asyncpg.Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        return True
    except Exception:
        return False


def service_app(
    name: str,
    broker: KafkaBroker,
    resources: Callable[[], AbstractAsyncContextManager[dict[str, ReadyCheck]]],
    *,
    tracer_provider: TracerProvider | None = None,
    spans: bool = False,
) -> FastAPI:
    """The service's ASGI app. `resources()` opens what the handlers need (and puts it in the
    broker's context) and yields the readiness checks; the broker starts after it. A span per
    request with `spans` (traces are exported) or a `tracer_provider`; without, the trace
    context a caller sent is passed on (as `shared.kafka.make_broker` does for messages)."""
    checks: dict[str, ReadyCheck] = {}
    kafka = _kafka_settings(broker)
    lag = ConsumerLag(broker, kafka.bootstrap, client_options(kafka))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with resources() as extra_checks:
            checks.update(extra_checks)
            await broker.start()
            REGISTRY.register(lag)
            try:
                yield
            finally:
                unwatch(lag)
                await lag.close()
                await broker.stop()

    # FastAPI's own OpenTelemetry (spans, metrics, logs through the global providers, one
    # set per request) stays off: spans come from `trace_requests` when they are exported.
    app = FastAPI(title=f"Switchboard {name}", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.service = name
    if spans or tracer_provider is not None:
        trace_requests(app, tracer_provider)
    else:
        app.add_middleware(CarryRequestTrace)
    app.add_route("/metrics", MetricsEndpoint(lag), include_in_schema=False)

    @app.get("/health/live", tags=["health"], response_model=Liveness)
    async def live() -> dict[str, str]:
        return {"status": "live", "service": name}

    @app.get("/health/ready", tags=["health"], response_model=Readiness, responses={
        503: {"model": Readiness, "description": "Not ready: a dependency does not answer"}})
    async def ready(response: Response) -> dict[str, object]:
        results = {"kafka": await broker.ping(timeout=2.0)}
        for check_name, check in checks.items():
            results[check_name] = await check()
        ok = all(results.values())
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not ready", "service": name, "checks": results}

    return app


def _kafka_settings(broker: KafkaBroker) -> KafkaSettings:
    return broker.context.get("kafka_settings") or KafkaSettings()


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    name = getattr(app.state, "service", None) or service_name(settings)
    configure_logging(name, settings.log_level, settings.log_format)
    tracing = configure_tracing(name, settings.otlp_endpoint)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port,
                    log_level=settings.log_level.lower(), log_config=None)
    finally:
        tracing.shutdown()  # sends the spans still buffered
