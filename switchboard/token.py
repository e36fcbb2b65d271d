"""`switchboard token EMAIL`: issues a bearer token to an employee; it is allowed what their
role is allowed.

The token is printed once; only its SHA-256 is stored. `--revoke` first revokes the
employee's earlier tokens (with `--no-issue`, it only revokes). Audit: `token.issue`,
`token.revoke`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from shared.access.credentials import PERSON_TOKEN, new_token, token_hash
from shared.access.principals import Scope
from switchboard.access_store import Person, run_on_store

console = Console()
error_console = Console(stderr=True)

ExpiresIn = Annotated[int | None, typer.Option(
    "--expires-in", metavar="DAYS", min=1,
    help="The token stops working after this many days (default: it never expires).")]


def expiry(days: int | None, now: datetime) -> datetime | None:
    return (now + timedelta(days=days)).replace(microsecond=0) if days is not None else None


def until(expires_at: datetime | None) -> str:
    """How a command says when a token or link stops working."""
    return f"until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "no expiry"


def token_command(
    email: Annotated[str, typer.Argument(help="The employee's e-mail.", show_default=False)],
    revoke: Annotated[bool, typer.Option(help="Revoke the employee's earlier tokens.")] = False,
    issue: Annotated[bool, typer.Option(help="Issue a new token.")] = True,
    expires_in: ExpiresIn = None,
) -> None:
    """Issue a bearer token to the employee with this e-mail (SWITCHBOARD_DATABASE_URL)."""
    token = new_token(PERSON_TOKEN) if issue else None
    expires_at = expiry(expires_in, datetime.now(UTC))
    employee = run_on_store(lambda store: store.issue_person_token(
        email, token and token_hash(token), revoke=revoke, expires_at=expires_at))
    if employee is None:
        error_console.print(f"[bold red]no employee has the e-mail[/] {email!r}")
        raise typer.Exit(1)
    if revoke:
        console.print(f"earlier tokens of {employee.name} revoked")
    if token is None:
        return
    if not employee.active:
        console.print(f"[yellow]{employee.name} is not active: the token works once they are[/]")
    validity = f", {until(expires_at)}" if expires_at else ""
    console.print(f"token for {employee.name} ({employee.department.value} {employee.role}, "
                  f"{inbox(employee)}){validity}; shown once, keep it safe:", highlight=False)
    print(token)


def inbox(employee: Person) -> str:
    principal = employee.principal
    if employee.active and principal.may(Scope.INBOX_WORK) and principal.works_the_inbox:
        return "the head's inbox"
    return "no inbox (not a commercial head)"
