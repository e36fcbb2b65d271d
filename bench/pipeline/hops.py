"""The chains of four consume-and-produce hops without logic, bench.hop0 -> ... -> bench.hop4,
each hop its own process: the baseline (one record at a time, as the services' subscribers)
and the reference chains (whole fetched batches; FastStream subscribers).

A hop process is this module: `python -m bench.pipeline.hops INDEX BOOTSTRAP GROUP MODE`."""

from __future__ import annotations

import argparse
import asyncio
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.pipeline.load import producer
from switchboard.infra import REPO_ROOT

HOP_PREFIX = "bench.hop"
HOPS = 4
FINAL_TOPIC = f"{HOP_PREFIX}{HOPS}"
HOP_MODULE = "bench.pipeline.hops"
BATCH_RECORDS = 500  # a batch hop's largest batch
BASELINE = "record"
# Reference chains: the baseline's four hops done another way, printed beside it.
REFERENCE_CHAINS = {
    "batch": f"raw aiokafka hops taking whole fetched batches (up to {BATCH_RECORDS} "
             "records, one commit per batch)",
    "faststream": "FastStream subscribers passing the bytes on, no logic (acks=all, "
                  "idempotent, NACK_ON_ERROR)",
    "switchboard": "the services' broker (shared.kafka.make_broker: middlewares, metrics), "
                   "no logic",
}


def hop_topics() -> list[str]:
    return [f"{HOP_PREFIX}{i}" for i in range(HOPS + 1)]


def stop_on_signals() -> asyncio.Event:
    """Set when the process gets SIGTERM or SIGINT (Hops.stop, Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def announce_ready(consumer: AIOKafkaConsumer) -> None:
    """Prints READY (what Hops.start waits for) once the consumer has its partitions and
    its "latest" positions are resolved: from then on, no published record is missed."""
    while not consumer.assignment():
        await asyncio.sleep(0.05)
    for tp in consumer.assignment():
        await consumer.position(tp)
    print("READY", flush=True)


async def hop_main(index: int, bootstrap: str, group: str, mode: str = BASELINE) -> None:
    """One baseline hop: consume bench.hop<i>, produce the same key and bytes to
    bench.hop<i+1> (acks=all, idempotent, waiting for the acknowledgement), then commit: one
    record at a time, as a FastStream subscriber with AckPolicy.NACK_ON_ERROR does."""
    source, target = f"{HOP_PREFIX}{index}", f"{HOP_PREFIX}{index + 1}"
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                client_id=f"bench-hop{index}", enable_auto_commit=False,
                                auto_offset_reset="latest")
    kafka = producer(bootstrap, client_id=f"bench-hop{index}")
    stop = stop_on_signals()
    await kafka.start()
    await consumer.start()

    async def forward() -> None:
        while True:
            record = await consumer.getone()
            await kafka.send_and_wait(target, record.value, key=record.key)
            await consumer.commit()

    async def forward_batches() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH_RECORDS)
            sends = [await kafka.send(target, r.value, key=r.key)
                     for records in batches.values() for r in records]
            if sends:
                await asyncio.gather(*sends)
                await consumer.commit()

    work = [asyncio.create_task(forward() if mode == BASELINE else forward_batches()),
            asyncio.create_task(announce_ready(consumer))]
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([work[0], stopping], return_when=asyncio.FIRST_COMPLETED)
        if work[0] in done:
            work[0].result()
    finally:
        for task in [*work, stopping]:
            task.cancel()
        await asyncio.gather(*work, stopping, return_exceptions=True)
        await consumer.stop()
        await kafka.stop()


async def framework_hop_main(index: int, bootstrap: str, group: str, ours: bool) -> None:
    """The same hop as a FastStream subscriber that does nothing but pass the bytes on: plain
    FastStream with the services' delivery settings (acks=all, idempotent, NACK_ON_ERROR: a
    commit after each message), or (`ours`) the services' own broker, with their middlewares
    (`shared.kafka.make_broker`). What the framework costs per message, without any logic."""
    import logging

    from faststream.kafka import KafkaBroker, KafkaResponse
    from faststream.kafka.message import KafkaMessage
    from faststream.middlewares import AckPolicy

    from shared.kafka import Context, make_broker, service_router
    from shared.settings import KafkaSettings

    source, target = f"{HOP_PREFIX}{index}", f"{HOP_PREFIX}{index + 1}"
    client = f"bench-hop{index}"
    if ours:
        broker = make_broker(KafkaSettings(bootstrap=bootstrap), client)
    else:
        broker = KafkaBroker(bootstrap, client_id=client, acks="all", enable_idempotence=True,
                             ack_policy=AckPolicy.NACK_ON_ERROR,
                             logger=logging.getLogger(client), log_level=logging.DEBUG)
    router = service_router()

    async def raw(msg: Any) -> bytes:
        return msg.body

    subscriber = router.subscriber(source, group_id=group, auto_offset_reset="latest",
                                   decoder=raw)

    @subscriber
    @router.publisher(target)
    async def forward(body: bytes, msg: KafkaMessage = Context("message")) -> KafkaResponse:
        return KafkaResponse(body, key=msg.raw_message.key)

    broker.include_router(router)
    stop = stop_on_signals()
    await broker.start()
    try:
        await announce_ready(subscriber.consumer)
        await stop.wait()
    finally:
        await broker.stop()


@dataclass
class Hops:
    """The four hops of one chain, each a process running this module."""

    root: Path
    bootstrap: str
    run_id: str
    mode: str = BASELINE
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def start(self, timeout: float = 120) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (self.root / "pids").mkdir(parents=True, exist_ok=True)
        for i in range(HOPS):
            process = subprocess.Popen(
                [sys.executable, "-m", HOP_MODULE, str(i), self.bootstrap,
                 f"bench-hop{i}-{self.run_id}", self.mode],
                stdout=subprocess.PIPE, stderr=(logs / f"hop{i}.log").open("ab"),
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=REPO_ROOT,
            )
            self.processes.append(process)
            (self.root / "pids" / f"hop{i}.pid").write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        for i, process in enumerate(self.processes):
            assert process.stdout is not None
            line = b""
            while not line.startswith(b"READY"):
                if process.poll() is not None:
                    raise RuntimeError(f"hop {i} exited with {process.returncode}; see "
                                       f"{logs / f'hop{i}.log'}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"hop {i} not ready after {timeout:.0f}s")
                ready, _, _ = select.select([process.stdout], [], [], min(remaining, 1.0))
                if ready:
                    line = process.stdout.readline()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for i, process in enumerate(self.processes):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
            (self.root / "pids" / f"hop{i}.pid").unlink(missing_ok=True)
        self.processes.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One hop of a benchmark chain (Hops.start).")
    parser.add_argument("index", type=int)
    parser.add_argument("bootstrap")
    parser.add_argument("group")
    parser.add_argument("mode", choices=[BASELINE, *REFERENCE_CHAINS])
    args = parser.parse_args(argv)
    if args.mode in ("faststream", "switchboard"):
        asyncio.run(framework_hop_main(args.index, args.bootstrap, args.group,
                                       ours=args.mode == "switchboard"))
    else:
        asyncio.run(hop_main(args.index, args.bootstrap, args.group, args.mode))


if __name__ == "__main__":
    main()
