"""The load: route requests as an Asterisk dialplan sends them (GET, HTTP basic auth), from
callers drawn from the client base, started on a fixed schedule whatever the answers do
(open loop), each answer timed from the moment its request was due."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import aiohttp

from bench.pipeline.client_base import GENERAL_LINE
from bench.ring.client_base import UNKNOWN_PREFIX, RingBase
from services.intake.dial import DEFAULT_TEMPLATES

UNKNOWN_SHARE = 0.1  # callers not in the client base; the others are drawn from all of it
DIAL = DEFAULT_TEMPLATES["asterisk"]  # what the intake answers Asterisk, from an extension
KEEP_ALIVE_SECONDS = 4.0  # below uvicorn's 5: a kept connection is never one it just closed


@dataclass(frozen=True)
class Ask:
    """One route request, and the answer a decision gives to it."""

    call_id: str
    caller: str
    kind: str  # owned, known (a client without an owner), unknown
    expected: str  # the dial string


@dataclass(frozen=True)
class Answer:
    """What came back, on the event loop's clock."""

    due: float  # when the request was due (the schedule)
    sent: float  # when it was started
    done: float  # when the answer was read, or the request failed
    status: int | None  # None: no answer (timeout, connection error)
    text: str
    error: str | None = None


def make_asks(tag: str, n: int, base: RingBase, rng: random.Random) -> list[Ask]:
    asks = []
    for seq in range(n):
        call_id = f"{tag}-{seq:06d}"
        if rng.random() < UNKNOWN_SHARE:
            caller = f"{UNKNOWN_PREFIX}{rng.randrange(10 ** 7):07d}"
            asks.append(Ask(call_id, caller, "unknown",
                            DIAL.format(extension=base.desks.for_unknown())))
            continue
        i = rng.randrange(base.clients)
        asks.append(Ask(call_id, base.phone(i), "owned" if base.owned(i) else "known",
                        DIAL.format(extension=base.expected(i))))
    return asks


async def offer(url: str, asks: list[Ask], rate: float, auth: tuple[str, str],
                connections: int, timeout: float) -> list[Answer]:
    """Starts request k at k / rate seconds, without waiting for the earlier ones; returns
    every answer, in the order of `asks`. A fresh session per call of this: its connections
    are opened as the load needs them, as a PBX's are."""
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=KEEP_ALIVE_SECONDS)
    async with aiohttp.ClientSession(
            connector=connector, auth=aiohttp.BasicAuth(*auth),
            timeout=aiohttp.ClientTimeout(total=timeout)) as session:

        async def one(ask: Ask, due: float) -> Answer:
            sent = loop.time()
            params = {"caller": ask.caller, "dialed": GENERAL_LINE, "call_id": ask.call_id}
            try:
                async with session.get(url, params=params) as response:
                    text = await response.text()
                    return Answer(due, sent, loop.time(), response.status, text)
            except TimeoutError:
                return Answer(due, sent, loop.time(), None, "", "timeout")
            except aiohttp.ClientError as e:
                return Answer(due, sent, loop.time(), None, "", type(e).__name__)

        start = loop.time() + 0.05
        tasks = []
        for k, ask in enumerate(asks):
            due = start + k / rate
            ahead = due - loop.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
            tasks.append(asyncio.create_task(one(ask, due)))
        return list(await asyncio.gather(*tasks))
