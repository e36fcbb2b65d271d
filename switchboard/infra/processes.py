"""Starting, recognising and stopping the local processes of the stack (Kafka, the services,
`dev up` itself): one way to start one, one way to stop one."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

KILL_WAIT = 10.0  # seconds for a SIGKILLed process to be gone

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec function asking Linux to SIGTERM the child when this process dies, however
    it dies (kill -9 included), so no child outlives the command that started it.

    Linux sends that signal when the *thread* that forked the child ends, not the process: so
    only children started from the main thread ask for it (a child started from a worker
    thread, e.g. under asyncio.to_thread, would otherwise die with that thread)."""
    if _libc is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def die_with_parent() -> None:  # runs in the child, between fork and exec
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return die_with_parent


def start_process(args: Sequence[str], log: Path, *, cwd: Path | None = None,
                  env: dict[str, str] | None = None) -> psutil.Popen:
    """Start `args` with its output appended to `log`, in a session (process group) of its
    own: a Ctrl-C in the terminal reaches only us, and we stop our children in order. The
    child also gets SIGTERM if we die without stopping it (see `_parent_death_signal`)."""
    with log.open("ab") as output:
        return psutil.Popen(
            list(args), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_parent_death_signal(),
        )


def find_running(pid: int, *command_parts: str) -> psutil.Process | None:
    """Process `pid` if it runs (a zombie does not) and its command line contains every one of
    `command_parts`: a pid file may name a pid that a later, unrelated process reuses."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        command = " ".join(process.cmdline())
    except psutil.Error:
        return None
    return process if all(part in command for part in command_parts) else None


def stop_process_tree(process: psutil.Process | int, timeout: float) -> bool:
    """Stop a process and every process it started: SIGTERM, up to `timeout` seconds for it to
    exit on its own, then SIGKILL to whatever of its tree still runs. `timeout` 0 skips the
    SIGTERM: a SIGKILL at once, as a crash would. Returns whether the process was running.

    Pass the `psutil.Popen` of a child we started (rather than its pid) to keep its exit code."""
    try:
        root = process if isinstance(process, psutil.Process) else psutil.Process(process)
        if root.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(psutil.TimeoutExpired):
                root.wait(0)  # reaps it if it is our child
            return False
        tree = [root, *_descendants(root)]
    except psutil.NoSuchProcess:
        return False
    if timeout > 0:
        with contextlib.suppress(psutil.NoSuchProcess):
            root.terminate()
        psutil.wait_procs([root], timeout)
    tree += [p for p in _descendants(root) if p not in tree]
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            member.kill()
    psutil.wait_procs(tree, KILL_WAIT)
    return True


def _descendants(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
