"""`switchboard audit [--since 7d] [--who EMAIL] [--json]`: who looked up which caller and who
changed what, newest first.

This is an administrator's command reading the audit log: subjects (caller numbers among
them) are shown as stored, unlike the services' logs, which mask numbers.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from switchboard.access_store import AuditLine, run_on_store

console = Console(soft_wrap=True)  # a path, a URL or a token on one line, as scripts read them
error_console = Console(stderr=True, soft_wrap=True)

_DURATION = re.compile(r"(\d+)\s*([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since_from(text: str, now: datetime) -> datetime:
    """`30m`, `12h`, `7d` before `now`, or an ISO date or time (UTC unless it says otherwise)."""
    text = text.strip()
    if duration := _DURATION.fullmatch(text):
        return now - timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (30m, 12h, 7d) nor an ISO date "
                         "(2026-11-20, 2026-11-20T09:00)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def detail_text(detail: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}"
                     for key, value in detail.items() if value is not None)


def audit_command(
    since: Annotated[str, typer.Option(
        help="From how long ago (30m, 12h, 7d) or from when (an ISO date or time, UTC).")] = "7d",
    who: Annotated[str | None, typer.Option(
        help="Only what this principal did: a person's e-mail, an integration's name, "
             "'switchboard' for the system.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per line instead of a table.")] = False,
    limit: Annotated[int | None, typer.Option(
        min=1, help="At most this many lines (the newest).", show_default=False)] = None,
) -> None:
    """Read the audit log, newest first (SWITCHBOARD_DATABASE_URL)."""
    try:
        start = since_from(since, datetime.now(UTC))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--since'") from None
    lines = run_on_store(lambda store: store.audit_lines(start, who and who.strip(), limit))
    if as_json:
        for line in lines:
            print(json.dumps(line.as_json(), ensure_ascii=False, default=str))
        return
    print_table(lines, start)


def print_table(lines: list[AuditLine], start: datetime) -> None:
    if not lines:
        console.print(f"nothing in the audit log since {start:%Y-%m-%d %H:%M} UTC")
        return
    table = Table(title=f"audit log since {start:%Y-%m-%d %H:%M} UTC ({len(lines)}, newest "
                        "first)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("who", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("subject", overflow="fold")
    table.add_column("detail", overflow="fold")
    for line in lines:
        table.add_row(f"{line.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}", escape(line.who), line.kind,
                      escape(line.action), escape(line.subject or "—"),
                      escape(detail_text(line.detail)))
    console.print(table)
