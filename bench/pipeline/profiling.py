"""`--profile`: py-spy on the services during a run, and where each service's CPU goes."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchboard.infra import REPO_ROOT

if TYPE_CHECKING:
    from switchboard.devstack import Services

RATE_HZ = 100

# Where a sample's CPU goes. A sample whose stack passes through the logging module, or
# through a hand-off to anyio's worker threads, counts as that (whatever is below it);
# any other sample counts for the innermost frame that belongs to a library or to our code
# (stdlib frames count for their caller); a sample with none is the event loop itself.
PRECEDENCE: list[tuple[str, re.Pattern[str]]] = [
    ("logging", re.compile(r"/logging/|pythonjsonlogger")),
    ("thread hand-offs (anyio worker threads)",
     re.compile(r"run_in_threadpool|anyio/to_thread|WorkerThread|run_sync_in_worker_thread")),
]
OWNERS: list[tuple[str, re.Pattern[str]]] = [
    ("OpenTelemetry", re.compile(r"/opentelemetry/")),
    ("Prometheus", re.compile(r"/prometheus_client/|/faststream/(kafka/)?prometheus/")),
    ("pydantic", re.compile(r"/pydantic(_core)?/")),
    ("asyncpg", re.compile(r"/asyncpg/")),
    ("aiokafka", re.compile(r"/aiokafka/")),
    ("FastStream, FastDepends", re.compile(r"/faststream/|/fast_depends/")),
    ("anyio", re.compile(r"/anyio/")),
    ("Switchboard code", re.compile(rf"{re.escape(str(REPO_ROOT))}/(services|shared)/")),
    ("other libraries", re.compile(r"site-packages/")),
]
EVENT_LOOP = "event loop, sockets (stdlib)"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_BOOT = re.compile(r"runpy|/uvicorn/|asyncio/runners\.py|/(services/\w+/main|shared/app)\.py")
_LOOP_FUNCS = {"BaseEventLoop.run_forever", "BaseEventLoop.run_until_complete",
               "BaseEventLoop._run_once", "Handle._run"}


# Innermost frames that block (epoll with a timeout, a worker thread waiting for work): py-spy
# --nonblocking counts some of them as active, so they are left out (psutil's per-thread CPU
# shows the worker threads use a few percent of a service's CPU).
IDLE_LEAVES = {"EpollSelector.select", "Condition.wait", "Event.wait", "Thread.join",
               "Semaphore.acquire"}


def attribute(frames: list[tuple[str, str]]) -> tuple[str, str]:
    """(category, function) a sample's CPU counts for; frames from the root to the leaf."""
    inner = [(fn, fl) for fn, fl in frames if not _BOOT.search(fl) and fn not in _LOOP_FUNCS]
    for name, pattern in PRECEDENCE:
        for fn, fl in inner:
            if pattern.search(f"{fn} {fl}"):
                return name, f"{fn} ({short(fl)})"
    for fn, fl in reversed(inner):
        for name, pattern in OWNERS:
            if pattern.search(fl):
                return name, f"{fn} ({short(fl)})"
    fn, fl = inner[-1] if inner else frames[-1]
    return EVENT_LOOP, f"{fn} ({short(fl)})"


def summarise_profile(path: Path, rate: int) -> dict[str, Any]:
    """Where one service's on-CPU samples (a py-spy raw, collapsed, profile) go: by category
    (see `attribute`), and the top functions (innermost frames, and the frames charged)."""
    samples = idle = 0
    by_category: Counter[str] = Counter()
    charged: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or not stack:
            continue
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            frames.append((m.group("func"), m.group("file")) if m else (frame, ""))
        if frames[-1][0] in IDLE_LEAVES:
            idle += count
            continue
        samples += count
        name, function = attribute(frames)
        by_category[name] += count
        charged[function] += count
        leaves[f"{frames[-1][0]} ({short(frames[-1][1])})"] += count
    if not samples:
        return {"samples": 0}

    def share(n: int) -> float:
        return round(100 * n / samples, 1)

    return {
        "samples": samples, "cpu_s_sampled": round(samples / rate, 1),
        "blocking_samples_left_out": idle,
        "categories_pct": {k: share(v) for k, v in by_category.most_common()},
        "top_charged": [(n, share(c)) for n, c in charged.most_common(12)],
        "top_self": [(n, share(c)) for n, c in leaves.most_common(12)],
    }


def profile_lines(prof: dict[str, Any], top: int = 6) -> list[str]:
    """A run's profile as the reports print it: each sampled service's CPU by category, then
    the functions charged the most (with psutil's CPU seconds beside the samples', where the
    run measured them)."""
    lines = []
    for name, s in prof["services"].items():
        if not s.get("samples"):
            continue
        cats = ", ".join(f"{k} {v}%" for k, v in s["categories_pct"].items() if v >= 1)
        measured = (f", psutil {s.get('cpu_s_psutil')} s" if "cpu_s_psutil" in s else "")
        lines.append(f"  {name} ({s['cpu_s_sampled']} CPU s sampled{measured}): {cats}")
        lines.append("    top: " + "; ".join(f"{n} {v}%" for n, v in s["top_charged"][:top]))
    return lines


def short(file: str) -> str:
    for marker in ("site-packages/", f"{REPO_ROOT}/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profilers(services: Services, out: Path, rate: int) -> dict[str, subprocess.Popen]:
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    out.mkdir(parents=True, exist_ok=True)
    started = {}
    for name, service in services.running.items():
        started[name] = subprocess.Popen(
            [exe, "record", "--pid", str(service.process.pid), "--rate", str(rate),
             "--format", "raw", "--function", "--full-filenames", "--nonblocking",
             "-o", str(out / f"{name}.txt")],
            stdout=(out / f"{name}.py-spy.log").open("wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    time.sleep(2)
    for name, process in started.items():
        if process.poll() is not None:
            raise RuntimeError(f"py-spy on {name} exited with {process.returncode}: "
                               f"{(out / f'{name}.py-spy.log').read_text()[-2000:]}")
    return started


def stop_profilers(profilers: dict[str, subprocess.Popen], timeout: float) -> None:
    """SIGINT makes py-spy write its profile before it exits."""
    processes = list(profilers.values())
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
