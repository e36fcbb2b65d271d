"""The log files the local processes write: one run per file, and their last lines for an
error message."""

from __future__ import annotations

from pathlib import Path


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def rotate(log: Path) -> None:
    """Keep the previous run's log as `<name>.1`, so a log holds one run."""
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))
