"""The load: which calls are sent (the same generic PBX event for every part), and at what
rate."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.pipeline.client_base import GENERAL_LINE, ClientBaseSeed

UNKNOWN_SHARE = 0.1  # calls from numbers not in the client base


@dataclass(frozen=True)
class Call:
    id: bytes  # "<tag>-000001": the PBX's call id; the pipeline's is "bench:<tag>-000001"
    caller: str
    owned: bool  # from an owned client: routed to the owner


def make_calls(tag: str, n: int, base: ClientBaseSeed, rng: random.Random) -> list[Call]:
    calls = []
    known = base.owned + base.unowned
    owned = set(base.owned)
    for seq in range(n):
        if rng.random() < UNKNOWN_SHARE:
            caller = f"+7916{rng.randrange(10**7):07d}"
        else:
            caller = rng.choice(known)
        calls.append(Call(f"{tag}-{seq:06d}".encode(), caller, caller in owned))
    return calls


def pbx_event(call: Call) -> bytes:
    """A generic PBX event (see the README), the same bytes for the baseline and the pipeline."""
    return json.dumps({"pbx": "bench", "call_id": call.id.decode(), "caller": call.caller,
                       "dialed": GENERAL_LINE,
                       "started_at": datetime.now(UTC).isoformat()}).encode()


def producer(bootstrap: str, **extra: Any) -> AIOKafkaProducer:
    """The producer settings of every part: acks=all, idempotent (as the services')."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                            **extra)


async def feed(bootstrap: str, topic: str, calls: list[Call], rate: float | None,
               sent: dict[bytes, float]) -> None:
    """Publishes the calls at `rate` per second, or all at once (None)."""
    kafka = producer(bootstrap)
    await kafka.start()
    try:
        start = time.perf_counter()
        for i, call in enumerate(calls):
            if rate:
                ahead = start + i / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            elif i % 200 == 0:
                await asyncio.sleep(0)  # let the watcher read meanwhile
            value = pbx_event(call)
            sent[call.id] = time.perf_counter()
            await kafka.send(topic, value, key=call.caller.encode())
        await kafka.flush()
    finally:
        await kafka.stop()
