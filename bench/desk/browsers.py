"""The simulated browsers: each one an operator's page, drawn once (`GET /operator`), then its
event stream (`GET /operator/events`) held open on a connection of its own, with the session
cookie as a browser sends it, read through httpx streaming.

What a browser notes is when each card first reached it: the first message holding the
card's `<article id="call-…">`, an insert as a rule, or a snapshot (the stream's first message,
or the one the desk sends instead of the changes a browser fell behind on). The stream is
read as raw bytes and only complete messages are searched (in C: `re`, `bytes.count`), so one
process can read the 200 streams; a stream the desk closes is opened again, as htmx's SSE
extension does."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.desk.people import Operator
from shared.access.http import SESSION_COOKIE

PAGE_PATH = "/operator"
EVENTS_PATH = "/operator/events"
CARD = re.compile(rb'<article [^>]*?\bid="(call-[0-9a-f]{20})"')
SNAPSHOT = b'id="cards"'  # the section a snapshot fills
UPDATE = b"event: update"
SIGNED_OUT = b"event: signed-out"
REOPEN_SECONDS = 1.0


@dataclass
class StreamReader:
    """What one stream brought: the first arrival of each card (monotonic seconds), by the
    card's HTML id. Fed the bytes as they come; only complete messages are read."""

    arrivals: dict[bytes, float] = field(default_factory=dict)
    messages: int = 0
    snapshots: int = 0
    bytes_read: int = 0
    signed_out: bool = False
    # What came after the last complete message: pieces without a message's end, kept apart
    # (a snapshot of hundreds of cards comes in many reads) and joined once it is complete.
    _pending: list[bytes] = field(default_factory=list)

    def feed(self, data: bytes, at: float) -> None:
        self.bytes_read += len(data)
        tail = b"".join(self._pending[-3:])[-3:]  # a message's end split between reads
        probe = tail + data
        # sse-starlette ends a message with a blank line: CRLF CRLF (LF LF for others)
        crlf, lf = probe.rfind(b"\r\n\r\n"), probe.rfind(b"\n\n")
        end = max(crlf + 4 if crlf >= 0 else -1, lf + 2 if lf >= 0 else -1) - len(tail)
        if end < 0:
            self._pending.append(data)
            return
        complete = b"".join([*self._pending, data[:end]])
        self._pending = [data[end:]] if end < len(data) else []
        self._take(complete, at)

    def _take(self, complete: bytes, at: float) -> None:
        self.messages += complete.count(UPDATE)
        self.snapshots += complete.count(SNAPSHOT)
        if SIGNED_OUT in complete:
            self.signed_out = True
        arrivals = self.arrivals
        for found in CARD.finditer(complete):
            arrivals.setdefault(found.group(1), at)


@dataclass
class Browser:
    """One operator's page and its event stream."""

    operator: Operator
    reader: StreamReader = field(default_factory=StreamReader)
    opened: int = 0  # streams opened (more than 1: the desk closed one, or it failed)
    errors: Counter[str] = field(default_factory=Counter)
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # the first snapshot came

    async def run(self, desk_url: str) -> None:
        """Draws the page, then reads the stream until cancelled (or signed out)."""
        headers = {"Cookie": f"{SESSION_COOKIE}={self.operator.session_cookie}"}
        timeout = httpx.Timeout(30.0, read=None)
        async with httpx.AsyncClient(base_url=desk_url, headers=headers, timeout=timeout,
                                     limits=httpx.Limits(max_connections=1)) as http:
            page = await http.get(PAGE_PATH)
            if page.status_code != 200:
                self.errors[f"page: HTTP {page.status_code}"] += 1
                return
            while not self.reader.signed_out:
                try:
                    await self._read(http)
                except httpx.HTTPError as e:
                    self.errors[f"stream: {type(e).__name__}"] += 1
                await asyncio.sleep(REOPEN_SECONDS)

    async def _read(self, http: httpx.AsyncClient) -> None:
        async with http.stream("GET", EVENTS_PATH,
                               headers={"Accept": "text/event-stream"}) as answer:
            if answer.status_code != 200:
                self.errors[f"stream: HTTP {answer.status_code}"] += 1
                return
            self.opened += 1
            reader = self.reader
            async for data in answer.aiter_raw():
                reader.feed(data, time.monotonic())
                if reader.snapshots and not self.ready.is_set():
                    self.ready.set()
            if not reader.signed_out:
                self.errors["stream: closed by the desk"] += 1


async def open_browsers(desk_url: str, operators: list[Operator], at_once: int,
                        timeout: float) -> tuple[list[Browser], list[asyncio.Task[None]]]:
    """A browser per operator, `at_once` of them opening their page at a time; returns once
    every stream sent its snapshot, or after `timeout` seconds (the browsers not ready by
    then keep trying)."""
    browsers = [Browser(operator) for operator in operators]
    gate = asyncio.Semaphore(at_once)

    async def run(browser: Browser) -> None:
        async with gate:
            reading = asyncio.create_task(browser.run(desk_url))
            ready = asyncio.create_task(browser.ready.wait())
            await asyncio.wait({reading, ready}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
        await reading

    tasks = [asyncio.create_task(run(b), name=f"browser-{i}") for i, b in enumerate(browsers)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(b.ready.is_set() for b in browsers):
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        await asyncio.sleep(0.2)
    return browsers, tasks


async def close_browsers(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
