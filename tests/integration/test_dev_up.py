"""`switchboard dev up` stops what it started even when its output has nowhere to go: the
reader of its pipe is gone (as `tee` is when Ctrl-C reaches it first), then Ctrl-C.

It starts a Kafka and a PostgreSQL of its own, in a fixed folder so that a later session
reuses the formatted broker and the cluster.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / ".switchboard" / "test-dev-up"
READY = b"Ctrl-C stops everything."


def dev_up(root: Path, stdout: int) -> subprocess.Popen:
    # The environment must not name a broker or a database: dev up then starts its own.
    env = {k: v for k, v in os.environ.items()
           if k not in ("SWITCHBOARD_KAFKA_BOOTSTRAP", "SWITCHBOARD_DATABASE_URL")}
    # A narrow console: a line longer than it must stay whole (CI's checkout is deeper than
    # this machine's, and a wrapped ready line once hid from the reader), as scripts grep it.
    env["COLUMNS"] = "30"
    return subprocess.Popen(
        [sys.executable, "-c", "from switchboard.cli import app; app()",
         "dev", "up", "--partitions", "1", "--root", str(root)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stdout,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )


def read_until(fd: int, marker: bytes, process: subprocess.Popen, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"dev up did not get ready (exit {process.returncode}):\n"
                                 f"{seen.decode(errors='replace')}")
        # Never a blocking read: a child of dev up may hold the pipe open after it is gone.
        if select.select([fd], [], [], 1.0)[0]:
            seen += os.read(fd, 65536)
    return seen


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_dev_up_stops_everything_on_ctrl_c_after_its_output_pipe_broke():
    # Given dev up running, its stdout and stderr a pipe
    read_end, write_end = os.pipe()
    process = dev_up(ROOT, write_end)
    os.close(write_end)
    try:
        read_until(read_end, READY, process, timeout=180)
        started = [process.pid, *(c.pid for c in psutil.Process(process.pid).children(True))]
        kafka = int((ROOT / "kafka" / "kafka.pid").read_text())
        data = Path((ROOT / "postgres" / "postgres.datadir").read_text().strip())
        postgres = int((data / "postmaster.pid").read_text().split()[0])
        assert kafka in started and len(started) >= 6  # dev up, Kafka, the four services

        # When the reader goes away, and then Ctrl-C reaches dev up's process group
        os.close(read_end)
        read_end = -1
        os.killpg(process.pid, signal.SIGINT)

        # Then dev up stops the services, Kafka and PostgreSQL, and exits
        assert process.wait(120) == 0
    finally:
        if read_end >= 0:
            os.close(read_end)
        if process.poll() is None:  # the test failed: leave nothing behind
            process.send_signal(signal.SIGTERM)
            process.wait(120)
    assert [pid for pid in [*started, postgres] if alive(pid)] == []
    assert not (ROOT / "dev-up.pid").exists()
