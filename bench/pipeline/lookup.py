"""The bare look-up: `ClientBase.find_caller` (the lookup service's statement for one caller;
the service asks it for a whole batch at once), in a loop at a given concurrency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.pipeline.cpu import CpuMeter, per_1000_calls
from bench.pipeline.load import Call
from bench.pipeline.watch import latency_summary


async def bare_lookup(url: str, calls: list[Call], concurrency: int, meter: CpuMeter,
                      warmup: int) -> dict[str, Any]:
    from services.lookup.repository import ClientBase
    from shared.db import create_pool
    from shared.settings import DatabaseSettings

    pool = await create_pool(DatabaseSettings(url=url, pool_min=concurrency,
                                              pool_max=concurrency))
    clients = ClientBase(pool)
    latencies: list[float] = []

    async def loop(items: list[Call], record: bool) -> None:
        queue = list(reversed(items))

        async def worker() -> None:
            while queue:
                call = queue.pop()
                start = time.perf_counter()
                await clients.find_caller(call.caller, f"bench:{call.id.decode()}")
                if record:
                    latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    try:
        await loop(calls[:warmup], record=False)
        meter.start()
        start = time.perf_counter()
        await loop(calls, record=True)
        seconds = time.perf_counter() - start
        cpu = meter.stop()
    finally:
        await pool.close()
    return {"name": "bare look-up", "calls": len(calls), "concurrency": concurrency,
            "seconds": round(seconds, 2), "throughput": round(len(calls) / seconds, 1),
            "latency": latency_summary(latencies), "cpu": cpu,
            "cpu_per_1000_calls": per_1000_calls(cpu, len(calls))}
