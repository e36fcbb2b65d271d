"""`switchboard dev up`: start the local stack, show it, and, however it is asked to end,
stop what it started, in order: the services, Kafka, PostgreSQL.

What ends it: Ctrl-C (SIGINT), `switchboard dev down` (SIGTERM), the terminal closing
(SIGHUP), and its output having nowhere to go (the reader of a pipe gone, as `tee` is when
Ctrl-C reaches it first: EPIPE; a closed terminal: EIO). SIGPIPE stays ignored, as Python
sets it: a write to a closed pipe then fails with EPIPE instead of killing the process.
If `dev up` itself is killed (kill -9), its children get SIGTERM from Linux
(`switchboard.infra.processes`); PostgreSQL, detached by `pg_ctl`, is stopped by the next
`dev up` or by `dev down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console

from shared.settings import DeskSettings
from switchboard.devstack import Infrastructure, Services, dev_connector, write_dev_env
from switchboard.infra import free_port


class Stop(KeyboardInterrupt):
    """dev up is asked to stop. A KeyboardInterrupt, so that it ends `asyncio.run` and
    `signal.pause` as Ctrl-C does, and passes every `except Exception`."""


class _OutputThatMayGo(io.TextIOBase):
    """sys.stdout or sys.stderr of dev up. When a write fails, the file descriptor is pointed
    at /dev/null (so no later write fails, nor the interpreter's last flush) and `on_lost`
    is called once; the text is dropped."""

    def __init__(self, stream: TextIO, on_lost: Callable[[], None]) -> None:
        self._stream, self._on_lost, self.lost = stream, on_lost, False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return not self.lost and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self) -> None:
        self.lost = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        self._on_lost()


class _Session:
    """The signals and the output of one dev up: while it runs, each stop request raises Stop
    (or KeyboardInterrupt) in the main thread; once it stops, they are ignored, so nothing
    interrupts the stopping."""

    def __init__(self) -> None:
        self.stopping = False
        self._previous: dict[signal.Signals, object] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        streams = sys.stdout, sys.stderr
        sys.stdout = _OutputThatMayGo(sys.stdout, self._output_lost)
        sys.stderr = _OutputThatMayGo(sys.stderr, self._output_lost)
        self._previous = {sig: signal.getsignal(sig)
                          for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        signal.signal(signal.SIGTERM, self._on_signal)
        # An ignored SIGHUP (nohup) stays ignored: the caller asked for that.
        if self._previous[signal.SIGHUP] is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, self._on_signal)
        # SIGINT keeps Python's handler (KeyboardInterrupt): `asyncio.run` then cancels the
        # demo cleanly. An ignored SIGINT (a background job of a script) stays ignored.
        try:
            yield
        finally:
            for sig, previous in self._previous.items():
                if previous is not None:  # None: a handler not set from Python
                    signal.signal(sig, previous)  # type: ignore[arg-type]
            sys.stdout, sys.stderr = streams

    def stop(self) -> None:
        """From now on, no signal and no lost output interrupts dev up."""
        self.stopping = True
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            raise Stop(signal.Signals(signum).name)

    def _output_lost(self) -> None:
        # Nobody reads what dev up says any more: stop, as `dev down` would ask. As a signal,
        # so that it reaches the main thread whichever thread wrote.
        if not self.stopping:
            os.kill(os.getpid(), signal.SIGTERM)


def run_dev_up(root: Path, partitions: int, demo: bool, interval: float,
               console: Console) -> None:
    """Start Kafka, PostgreSQL and the four services (and the demo); stop them all when asked."""
    from switchboard.demo import demo_service_env
    from switchboard.demo_story import run_demo

    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    pid_file = root / "dev-up.pid"
    pid_file.write_text(str(os.getpid()))
    session = _Session()
    infra = Infrastructure(root, partitions)
    services: Services | None = None
    with session.active():
        try:
            if demo:
                console.print(f"[bold]Switchboard demo[/]: the desk, the people's screens, "
                              f"will be at [bold]{_desk_url_expected()}[/]; the demo people's "
                              "e-mails and passwords follow once the stack is up",
                              soft_wrap=True)
            infra.start(log=console.print)
            connector = dev_connector(root)
            demo_env = demo_service_env(root) if demo else {}
            services = Services(root, {**infra.env(), **connector, **demo_env})
            console.print("starting the services...")
            services.start_all()
            connector.pop("SWITCHBOARD_INTAKE_CONNECTORS")  # the intake's copy of the secret
            urls = services.urls()
            values = {**infra.env(), **urls, **connector}
            env_path = write_dev_env(root, values)
            for key, value in values.items():
                shown = "(in dev.env)" if key == "SWITCHBOARD_DEV_SECRET" else value
                console.print(f"  [bold]{key}[/]={shown}")
            if demo_env:
                console.print("  the demo's settings: " + ", ".join(
                    f"{key}={value}" for key, value in demo_env.items()), highlight=False,
                    soft_wrap=True)
            console.print(f"written to {env_path}. Ctrl-C stops everything.")
            if demo:
                try:
                    asyncio.run(run_demo(urls, infra.bootstrap, infra.database_url, root,
                                         interval, console))
                except Exception as error:  # the stack stays up for whoever uses it
                    console.print(f"[bold red]the demo stopped[/]: {error!r}; the stack keeps "
                                  "running. Ctrl-C stops everything.")
            while True:
                signal.pause()
        except KeyboardInterrupt:  # Ctrl-C, or a Stop
            pass
        finally:
            session.stop()
            console.print("stopping...")
            if services:
                services.stop_all()
            infra.stop()
            pid_file.unlink(missing_ok=True)
            console.print("stopped.")


def _desk_url_expected() -> str:
    """Where the desk will listen: its usual port, unless something else holds it now."""
    return f"http://127.0.0.1:{free_port(DeskSettings.model_fields['port'].default)}"
