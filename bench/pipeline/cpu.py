"""How much CPU the measured processes used (psutil): per group of processes over a part, per
thread of a service, and which local processes are the broker and the database."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import psutil

if TYPE_CHECKING:
    from switchboard.devstack import Infrastructure


class CpuMeter:
    """CPU seconds of groups of processes over a phase, and the machine's utilisation.

    A group is a list of pids, each with its children or not (PostgreSQL backends are
    children of the postmaster). Sampled every `interval` seconds, so that a process that
    ends during the phase still counts up to its last sample, and one that starts during
    it counts from zero.
    """

    def __init__(self, groups: dict[str, tuple[list[int], bool]], interval: float = 0.5) -> None:
        self.groups = groups
        self.interval = interval
        self._first: dict[tuple[str, int], float] = {}
        self._last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._initial = True
        self._lock = threading.Lock()

    def _sample(self) -> None:
        for group, (pids, children) in self.groups.items():
            for pid in pids:
                try:
                    root = psutil.Process(pid)
                    procs = [root, *(root.children(recursive=True) if children else [])]
                except psutil.Error:
                    continue
                for proc in procs:
                    try:
                        times = proc.cpu_times()
                    except psutil.Error:
                        continue
                    value = times.user + times.system
                    key = (group, proc.pid)
                    with self._lock:
                        if key not in self._first:
                            self._first[key] = value if self._initial else 0.0
                        self._last[key] = value

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._first.clear()
        self._last.clear()
        self._initial = True
        self._machine0 = psutil.cpu_times()
        self._wall0 = time.perf_counter()
        self._sample()
        self._initial = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        wall = time.perf_counter() - self._wall0
        machine1 = psutil.cpu_times()
        per_group: dict[str, float] = defaultdict(float)
        for key, last in self._last.items():
            per_group[key[0]] += max(0.0, last - self._first.get(key, 0.0))

        def busy(t: Any) -> float:
            return sum(getattr(t, f, 0.0) for f in
                       ("user", "nice", "system", "irq", "softirq", "steal"))

        def total(t: Any) -> float:
            return busy(t) + t.idle + getattr(t, "iowait", 0.0)

        machine_busy = busy(machine1) - busy(self._machine0)
        machine_total = total(machine1) - total(self._machine0)
        ours = sum(per_group.values())
        return {
            "wall_s": round(wall, 3),
            "cpu_s": {g: round(per_group.get(g, 0.0), 3) for g in self.groups},
            "machine_busy_s": round(machine_busy, 3),
            "machine_util": round(machine_busy / machine_total, 4) if machine_total else None,
            "other_s": round(max(0.0, machine_busy - ours), 3),
            "cpus": psutil.cpu_count(),
        }


def per_1000_calls(cpu: dict[str, Any], calls: int) -> dict[str, float]:
    """CPU seconds per 1,000 calls of each group of a CpuMeter's figures."""
    return {g: round(s / calls * 1000, 3) for g, s in cpu["cpu_s"].items()}


def thread_cpu(pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """Per service: CPU seconds so far of its main thread (the event loop) and of its other
    threads (anyio's worker threads, to which FastDepends hands sync dependencies)."""
    found = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            main = other = 0.0
            for thread in psutil.Process(pid).threads():
                if thread.id == pid:
                    main += thread.user_time + thread.system_time
                else:
                    other += thread.user_time + thread.system_time
            found[name] = (main, other)
    return found


def listener_pid(address: str) -> int | None:
    """The local process listening on host:port, when the address is on this machine."""
    host, _, port = address.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0") or not port.isdigit():
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == int(port):
                return conn.pid
    except psutil.Error:
        return None
    return None


def infra_pids(infra: Infrastructure) -> tuple[int | None, int | None, str, str]:
    """(broker pid, postmaster pid, how the broker was found, how the database was found)."""
    broker, how_broker = None, "not found"
    if infra.kafka is not None and infra.kafka.pid:
        broker, how_broker = infra.kafka.pid, "started here"
    else:
        first = infra.bootstrap.split(",")[0]
        broker = listener_pid(first)
        how_broker = "named by the environment" + ("" if broker else ", not on this machine")
    database, how_db = None, "not found"
    if infra.postgres is not None and infra.postgres.data_dir is not None:
        with contextlib.suppress(OSError, ValueError):
            pid_file = infra.postgres.data_dir / "postmaster.pid"
            database = int(pid_file.read_text().splitlines()[0])
            how_db = "started here"
    else:
        url = urlparse(infra.database_url)
        database = listener_pid(f"{url.hostname or '127.0.0.1'}:{url.port or 5432}")
        how_db = "named by the environment" + ("" if database else ", not on this machine")
    return broker, database, how_broker, how_db
