"""`switchboard token EMAIL`: issues a bearer token of the assignment API to an employee.

The token is printed once; only its SHA-256 is stored. `--revoke` first revokes the
employee's earlier tokens (with `--no-issue`, it only revokes).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer
from rich.console import Console

from services.assignment.auth import may_work_the_inbox, new_token, token_hash
from services.assignment.repository import issue_token
from shared.settings import DatabaseSettings

console = Console()
error_console = Console(stderr=True)


def token_command(
    email: Annotated[str, typer.Argument(help="The employee's e-mail.", show_default=False)],
    revoke: Annotated[bool, typer.Option(help="Revoke the employee's earlier tokens.")] = False,
    issue: Annotated[bool, typer.Option(help="Issue a new token.")] = True,
) -> None:
    """Issue a bearer token of the assignment API to the employee with this e-mail
    (SWITCHBOARD_DATABASE_URL)."""
    url = DatabaseSettings().url
    token = new_token() if issue else None
    try:
        employee = asyncio.run(issue_token(url, email, token and token_hash(token),
                                           revoke=revoke))
    except (OSError, asyncpg.PostgresError) as error:
        error_console.print(f"[bold red]database error[/] ({url.split('@')[-1]}): {error}")
        raise typer.Exit(1) from None
    if employee is None:
        error_console.print(f"[bold red]no employee has the e-mail[/] {email!r}")
        raise typer.Exit(1)
    if revoke:
        console.print(f"earlier tokens of {employee.name} revoked")
    if token is None:
        return
    if not employee.active:
        console.print(f"[yellow]{employee.name} is not active: the token works once they are[/]")
    scope = ("the head's inbox" if may_work_the_inbox(employee)
             else "no inbox (not a commercial head)")
    console.print(f"token for {employee.name} ({employee.department.value} {employee.role}, "
                  f"{scope}); shown once, keep it safe:", highlight=False)
    print(token)
