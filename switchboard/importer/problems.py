"""What can be wrong with an import: the file as a whole, or one row."""

from __future__ import annotations

from dataclasses import dataclass


class FileProblem(Exception):
    """The file as a whole cannot be imported (not text, no header, a required column missing)."""


@dataclass(frozen=True)
class Issue:
    """Something wrong in a row. `rejected`: the row was not loaded; else one value was skipped."""

    line: int
    column: str | None  # the column as the file names it; None for the row as a whole
    reason: str
    rejected: bool = True
