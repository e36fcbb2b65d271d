"""The webhook intake: the pipeline fed through the intake's `POST /v1/pbx/generic`, each
request signed as a connector signs it (services.intake.signing), by a closed loop of many
kept-alive HTTP connections: each connection sends its next call as soon as the answer to its
last one is read. The calls are the ones the other parts publish to pbx.events (the same
generic PBX event); the watcher (bench.pipeline.watch) times them to calls.routed.

The client is aiohttp, as bench/ring's load generator: against a server that does nothing, on
this machine, httpx's AsyncClient spends 2.5 ms of CPU per request at 100 connections (0.8 at
10) and tops out near 300 requests/s (encode/httpx#3215), where aiohttp spends 0.08 ms and
does 6,000-10,000: with httpx the part would measure its own load generator."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.pipeline.load import Call, pbx_event
from bench.pipeline.watch import latency_summary
from services.intake.signing import sign

CONNECTOR = "bench"  # the connector the run's intake knows, with a secret made for the run
WEBHOOK_PATH = "/v1/pbx/generic"
TIMEOUT_SECONDS = 10.0  # a request unanswered after this counts as an error
KEEP_ALIVE_SECONDS = 4.0  # below uvicorn's 5: a kept connection is never one it just closed


@dataclass(frozen=True)
class Posted:
    """One webhook request, on the watcher's clock (time.perf_counter)."""

    call_id: bytes
    sent: float
    done: float
    status: int | None  # None: no answer (timeout, connection error)
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The headers of a connector's signed webhook (see services/intake/http.py)."""
    timestamp = str(int(now))
    return {"content-type": "application/json",
            "x-switchboard-connector": CONNECTOR,
            "x-switchboard-timestamp": timestamp,
            "x-switchboard-signature": sign(secret, timestamp, body)}


async def post_all(url: str, secret: str, calls: list[Call], connections: int,
                   expected: dict[str, set[bytes]], posted: list[Posted],
                   sent: dict[bytes, float]) -> None:
    """Posts every call through `connections` connections, closed loop; notes each request in
    `posted` and its send time in `sent`. A call the intake did not accept goes nowhere: it
    is taken out of the `expected` sets, so the watcher does not wait for it."""
    pending = iter(calls)  # shared: each connection takes the next call
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=KEEP_ALIVE_SECONDS),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session:

        async def connection() -> None:
            for call in pending:
                body = pbx_event(call)
                headers = signed_headers(secret, body, time.time())
                started = sent[call.id] = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as answer:
                        await answer.read()
                        status, error = answer.status, None
                except TimeoutError:
                    status, error = None, "timeout"
                except aiohttp.ClientError as e:
                    status, error = None, type(e).__name__
                done = Posted(call.id, started, time.perf_counter(), status, error)
                posted.append(done)
                if not done.accepted:
                    for wanted in expected.values():
                        wanted.discard(call.id)

        await asyncio.gather(*(connection() for _ in range(min(connections, len(calls)))))


def webhook_feeder(url: str, secret: str, calls: list[Call], connections: int,
                   expected: dict[str, set[bytes]], posted: list[Posted]
                   ) -> Callable[[dict[bytes, float]], Awaitable[None]]:
    """`post_all` as a feeder of bench.pipeline.watch.load_run."""
    return lambda sent: post_all(url, secret, calls, connections, expected, posted, sent)


def summarise_posts(posted: list[Posted]) -> dict[str, Any]:
    """The HTTP side of a webhook run: accepted (2xx) calls per second, from the first send
    to the last accepted answer; the errors by status (or by what failed, for a request
    without an answer); the answer time of every answered request."""
    accepted = [p for p in posted if p.accepted]
    errors = Counter(p.error or f"HTTP {p.status}" for p in posted if not p.accepted)
    first = min((p.sent for p in posted), default=0.0)
    last = max((p.done for p in accepted), default=first)
    return {
        "requests": len(posted),
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / (last - first), 1) if last > first else None,
        "errors": dict(sorted(errors.items())),
        "error_count": sum(errors.values()),
        "answer_ms": latency_summary([p.done - p.sent for p in posted if p.status is not None]),
    }
