"""What the desk's tests read: a page's server-sent event stream, in the background."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class EventStream:
    """A page's event stream, read in the background: (event name, data, when it came)."""

    events: list[tuple[str, str, float]] = field(default_factory=list)
    task: asyncio.Task | None = None

    async def wait_for(self, match, timeout: float = 15) -> tuple[str, str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if match(event):
                    return event
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no such event in {[(e[0], e[1][:120]) for e in self.events]}")


async def read_events(http: httpx.AsyncClient, path: str, stream: EventStream) -> None:
    async with http.stream("GET", path, timeout=None) as answer:
        assert answer.status_code == 200
        name, data = "message", []
        async for line in answer.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:
                stream.events.append((name, "\n".join(data), time.monotonic()))
                name, data = "message", []
