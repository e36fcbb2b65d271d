"""The HTTP side every service shares: an ASGI app whose lifespan runs the broker and the
database pool, and the `/health/live` and `/health/ready` endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, Response
from faststream.kafka import KafkaBroker

from shared.db import create_pool
from shared.settings import ServiceSettings

ReadyCheck = Callable[[], Awaitable[bool]]


@asynccontextmanager
async def database(settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database)
    try:
        yield pool
    finally:
        await pool.close()


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
) -> FastAPI:
    """The service's ASGI app. `resources()` opens what the handlers need (and puts it in the
    broker's context) and yields the readiness checks; the broker starts after it."""
    checks: dict[str, ReadyCheck] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with resources() as extra_checks:
            checks.update(extra_checks)
            await broker.start()
            try:
                yield
            finally:
                await broker.stop()

    app = FastAPI(title=f"Switchboard {name}", lifespan=lifespan)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "live", "service": name}

    @app.get("/health/ready", tags=["health"])
    async def ready(response: Response) -> dict[str, object]:
        results = {"kafka": await broker.ping(timeout=2.0)}
        for check_name, check in checks.items():
            results[check_name] = await check()
        ok = all(results.values())
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not ready", "service": name, "checks": results}

    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
