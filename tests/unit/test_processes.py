"""Starting and stopping the stack's local processes (switchboard.infra.processes), on
`sleep` and `sh`: no Kafka, no database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

from switchboard.infra.processes import find_running, start_process, stop_process_tree

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux process semantics")

# A shell that ignores SIGTERM and has a child of its own.
STUBBORN = "trap '' TERM; sleep 300 & echo $!; wait"


def test_a_process_that_obeys_sigterm_is_stopped_and_keeps_its_exit_code(tmp_path):
    process = start_process(["sleep", "300"], tmp_path / "sleep.log")
    assert stop_process_tree(process, timeout=5)
    assert process.returncode == -signal.SIGTERM
    assert not stop_process_tree(process, timeout=5)  # already stopped: nothing to do


def test_a_process_that_ignores_sigterm_is_killed_with_its_children(tmp_path):
    log = tmp_path / "sh.log"
    process = start_process(["sh", "-c", STUBBORN], log)
    deadline = time.monotonic() + 5
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(log.read_text())
    started = time.monotonic()
    assert stop_process_tree(process, timeout=0.5)
    assert time.monotonic() - started < 5
    assert process.returncode == -signal.SIGKILL
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_timeout_zero_kills_at_once_as_a_crash_would(tmp_path):
    process = start_process(["sleep", "300"], tmp_path / "sleep.log")
    assert stop_process_tree(process, timeout=0)
    assert process.returncode == -signal.SIGKILL


def test_a_process_named_by_its_pid_is_stopped_too(tmp_path):
    process = start_process(["sleep", "300"], tmp_path / "sleep.log")
    assert stop_process_tree(process.pid, timeout=5)
    assert find_running(process.pid) is None


def test_a_pid_file_names_a_process_only_while_its_command_line_is_ours(tmp_path):
    process = start_process(["sleep", "301"], tmp_path / "sleep.log")
    try:
        assert find_running(process.pid, "sleep", "301") is not None
        assert find_running(process.pid, "kafka.Kafka") is None
    finally:
        stop_process_tree(process, timeout=5)
    assert find_running(process.pid, "sleep") is None


def test_a_child_started_from_the_main_thread_dies_with_its_parent(tmp_path):
    # The parent starts a child, prints its pid, and is killed with SIGKILL.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path;"
         "from switchboard.infra.processes import start_process;"
         f"child = start_process(['sleep', '302'], Path({str(tmp_path / 'c.log')!r}));"
         "print(child.pid, flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while find_running(child, "sleep", "302") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert find_running(child, "sleep", "302") is None
