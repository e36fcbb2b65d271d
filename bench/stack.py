"""What the benchmarks that run the whole stack share (bench/ring, bench/desk): the broker and
the database (devstack's, under the run's folder unless SWITCHBOARD_KAFKA_BOOTSTRAP /
SWITCHBOARD_DATABASE_URL name them), the services as processes, the groups of processes the
CPU meter measures, and the guard of one run: one run per folder, what a killed earlier run
left running stopped, and Ctrl-C or SIGTERM ending in the stopping of everything it started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.pipeline.broker import ensure_topics, wait_drained
from bench.pipeline.cpu import infra_pids
from bench.pipeline.runner import Say, check_alive, lock_root, stop_bench_leftovers
from shared import topics
from shared.kafka import group_id
from switchboard.devstack import Infrastructure, Services
from switchboard.infra import free_port

# A CpuMeter's groups: name -> (pids, whether their children count too).
Groups = dict[str, tuple[list[int], bool]]


@dataclass
class Stack:
    """The broker, the database and the services of one run, and the groups of processes
    its CPU meter measures (`bench` is the benchmark's own process)."""

    root: Path
    say: Say
    infra: Infrastructure
    services: Services | None = None
    groups: Groups = field(default_factory=dict)

    def start_infrastructure(self, partitions: int) -> dict[str, str]:
        """Starts (or finds) the broker and the database, every topic with `partitions`
        partitions; how each of the two was found."""
        self.infra.start(log=self.say)
        asyncio.run(ensure_topics(self.infra.bootstrap, [t.name for t in topics.ALL],
                                  partitions))
        broker_pid, db_pid, how_broker, how_db = infra_pids(self.infra)
        self.groups |= {"broker": ([broker_pid] if broker_pid else [], False),
                        "database": ([db_pid] if db_pid else [], True),
                        "bench": ([os.getpid()], False)}
        return {"broker": how_broker, "database": how_db}

    def start_services(self, names: Sequence[str], env: dict[str, str],
                       own_env: dict[str, dict[str, str]] | None = None,
                       timeout: float = 180) -> Services:
        """The services `names`, in that order (the desk finds the lookup and the assignment
        started before it), with `env` besides the infrastructure's and each one's
        `own_env`; returns once every one is ready."""
        # Ports the kernel picks (see bench.pipeline.runner.Benchmark.start_services).
        self.services = services = Services(self.root, {**self.infra.env(), **env},
                                            usual_ports=False)
        for name in names:
            services.start(name, free_port(), (own_env or {}).get(name))
        services.wait_ready(timeout)
        check_alive(services)
        for name, service in services.running.items():
            self.groups[name] = ([service.process.pid], True)
        return services

    def url(self, name: str) -> str:
        assert self.services is not None
        return self.services.running[name].url

    def drained(self) -> None:
        """Until the services' consumer groups have nothing left from before."""
        assert self.services is not None
        wait_drained(self.infra.bootstrap, [group_id(n) for n in self.services.running],
                     self.say)

    def stop(self) -> None:
        """The services, then the broker and the database (those started here)."""
        if self.services is not None:
            with contextlib.suppress(Exception):
                self.services.stop_all()
        self.infra.stop()


@contextlib.contextmanager
def guarded_run(root: Path, say: Say, stop: Callable[[], None]) -> Iterator[None]:
    """One run in `root`: its lock held (another run in the folder is refused), what a killed
    earlier run left running stopped, its logs removed. However the run ends (also Ctrl-C, and
    SIGTERM, made a KeyboardInterrupt), `stop` runs, and a second Ctrl-C does not cut it."""
    root.mkdir(parents=True, exist_ok=True)
    lock = lock_root(root)
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt),
                signal.SIGINT: signal.getsignal(signal.SIGINT)}
    try:
        stop_bench_leftovers(root, say)
        for old in (root / "logs").glob("*.log") if (root / "logs").exists() else []:
            old.unlink()  # one run's logs
        yield
    finally:
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        lock.close()


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt
