"""Benchmark of the caller look-up: the bare database look-up the lookup service does, and
`GET /v1/callers/{phone}` of a running lookup service.

    set -a; . .switchboard/dev.env; set +a       # a running `switchboard dev up`
    python bench/import_bench.py                  # fill the client base (100,000 clients)
    python bench/lookup_bench.py [--requests 5000] [--concurrency 8]

Prints p50, p99 and p99.9 latency and requests per second of both. The numbers asked for are
random known numbers of the client base, plus one in ten unknown numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import asyncpg
import httpx

from services.lookup.repository import ClientBase
from shared.settings import DatabaseSettings, ServiceSettings


class LookupUrl(ServiceSettings):
    """SWITCHBOARD_LOOKUP_URL, as `dev up` writes it to .switchboard/dev.env."""

    model_config = {"env_prefix": "SWITCHBOARD_LOOKUP_", "extra": "ignore"}
    url: str | None = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(title: str, latencies: list[float], seconds: float) -> None:
    ms = [x * 1000 for x in latencies]
    print(f"{title:<28} {len(ms):>6} requests  {len(ms) / seconds:8.0f}/s  "
          f"p50 {percentile(ms, 0.5):6.2f} ms  p99 {percentile(ms, 0.99):6.2f} ms  "
          f"p99.9 {percentile(ms, 0.999):6.2f} ms  mean {statistics.fmean(ms):6.2f} ms")


async def run(numbers: list[str], concurrency: int, ask) -> tuple[list[float], float]:
    queue = list(numbers)
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            number = queue.pop()
            start = time.perf_counter()
            await ask(number)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    settings = DatabaseSettings()
    pool = await asyncpg.create_pool(settings.url, min_size=args.concurrency,
                                     max_size=args.concurrency)
    known = [r["phone"] for r in await pool.fetch(
        "SELECT phone FROM client_phones TABLESAMPLE SYSTEM (10) LIMIT $1", args.requests)]
    print(f"client base: {await pool.fetchval('SELECT count(*) FROM clients')} clients, "
          f"{await pool.fetchval('SELECT count(*) FROM client_phones')} numbers")
    rng = random.Random(1)
    numbers = [rng.choice(known) if known and rng.random() < 0.9
               else f"+7916{rng.randrange(10**7):07d}" for _ in range(args.requests)]

    clients = ClientBase(pool)
    await run(numbers[:200], args.concurrency, clients.find_caller)  # warm-up
    report("bare database look-up", *await run(numbers, args.concurrency, clients.find_caller))
    await pool.close()

    url = LookupUrl().url
    if not url:
        print("SWITCHBOARD_LOOKUP_URL not set: skipping GET /v1/callers/{phone}")
        return
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits) as http:
        async def ask(number: str) -> None:
            response = await http.get(f"/v1/callers/{number}")
            assert response.status_code in (200, 404), response.text

        await run(numbers[:200], args.concurrency, ask)
        report("GET /v1/callers/{phone}", *await run(numbers, args.concurrency, ask))


if __name__ == "__main__":
    asyncio.run(main())
