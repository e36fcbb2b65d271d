"""The reference the intake's ring-time answers are measured against: the floor of a
synchronous design. One process on the same web stack (FastAPI on uvicorn, as the services
serve), answering `GET /v1/route/asterisk` as the intake does (HTTP basic auth, the caller
normalised, the dial string as plain text) from one prepared asyncpg query: the caller's
owner's extension, else the desk of the client's segment, else the client department desk.
No Kafka, no events, no log line per request.

    python -m bench.ring.reference   # the benchmark starts it; settings below
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.intake.dial import DEFAULT_TEMPLATES
from shared.phones import normalise

# The client's owner's extension, and the client's segment for a client without one.
OWNERS_EXTENSION = """
SELECT c.segment, e.extension
FROM client_phones p
JOIN clients c USING (client_id)
LEFT JOIN ownership o USING (client_id)
LEFT JOIN employees e ON e.employee_id = o.employee_id
WHERE p.phone = $1
"""
DIAL = DEFAULT_TEMPLATES["asterisk"]


class ReferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_RING_REFERENCE_")

    port: int
    database_url: str
    connector: str  # the one connector name ...
    secret: str  # ... and its secret, as the intake's SWITCHBOARD_INTAKE_CONNECTORS
    desks: str  # JSON: {"unknown": "700", "<segment>": "<extension>", ...}
    pool_size: int = 10  # the services' pool_max


def make_app(settings: ReferenceSettings) -> FastAPI:
    desks: dict[str, str] = json.loads(settings.desks)
    expected = settings.secret.encode()
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(settings.database_url, min_size=settings.pool_size,
                                         max_size=settings.pool_size)
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    def authorised(request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            name, _, given = base64.b64decode(encoded.strip(), validate=True).decode(
                ).partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return name == settings.connector and hmac.compare_digest(expected, given.encode())

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ready" if pools else "starting"}

    @app.get("/v1/route/asterisk")
    async def route(request: Request, caller: str | None = None) -> Response:
        if not authorised(request):
            return PlainTextResponse("bad connector name or secret", status_code=401)
        number = normalise(caller).value
        row = await pools[0].fetchrow(OWNERS_EXTENSION, number) if number else None
        if row is None:
            extension = desks["unknown"]
        else:
            extension = row["extension"] or desks[row["segment"]]
        return PlainTextResponse(DIAL.format(extension=extension))

    return app


if __name__ == "__main__":
    settings = ReferenceSettings()
    uvicorn.run(make_app(settings), host="127.0.0.1", port=settings.port, log_config=None,
                log_level="warning")
