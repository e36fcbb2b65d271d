"""`switchboard integration add NAME --scope ...` and `switchboard integration list`.

An integration (a CRM, a reporting tool) is not a person: its token (`sbi_...`) is allowed
exactly the scopes it was issued with. The token is printed once; only its SHA-256 is stored.
Audit: `integration.token.issue`, `integration.token.revoke`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.access.credentials import INTEGRATION_TOKEN, new_token, token_hash
from shared.access.principals import Scope, parse_scopes
from switchboard.access_store import run_on_store
from switchboard.token import ExpiresIn, expiry, until

integration_app = typer.Typer(help="Integrations (a CRM, a reporting tool) and their tokens.",
                              no_args_is_help=True)
console = Console(soft_wrap=True)  # a path, a URL or a token on one line, as scripts read them
error_console = Console(stderr=True, soft_wrap=True)

KNOWN_SCOPES = ", ".join(s.value for s in Scope)


def scope_list(scopes: Iterable[Scope]) -> str:
    return ", ".join(sorted(s.value for s in scopes)) or "none"


@integration_app.command("add")
def integration_add(
    name: Annotated[str, typer.Argument(help="The integration's name, e.g. crm.",
                                        show_default=False)],
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", metavar="SCOPE", show_default=False,
        help=f"What the token may do (repeat the option for more): {KNOWN_SCOPES}.")] = None,
    revoke: Annotated[bool, typer.Option(
        help="Revoke the integration's tokens first; without --scope, only revoke.")] = False,
    expires_in: ExpiresIn = None,
) -> None:
    """Issue a token to an integration with exactly these scopes, creating the integration if
    it is new (SWITCHBOARD_DATABASE_URL)."""
    name = name.strip()
    if not name:
        raise typer.BadParameter("an integration needs a name", param_hint="'NAME'")
    try:
        scopes = parse_scopes(scope or [])
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="'--scope'") from None
    if not scopes and not revoke:
        raise typer.BadParameter(f"give at least one (known: {KNOWN_SCOPES}), or --revoke",
                                 param_hint="'--scope'")
    token = new_token(INTEGRATION_TOKEN) if scopes else None
    expires_at = expiry(expires_in, datetime.now(UTC))
    done = run_on_store(lambda store: store.issue_integration_token(
        name, token and token_hash(token), scopes, revoke=revoke, expires_at=expires_at))
    if done is None:
        error_console.print(f"[bold red]no integration is named[/] {name!r}")
        raise typer.Exit(1)
    if revoke:
        console.print(f"{done.revoked} token(s) of {name} revoked"
                      + ("" if token else f"; {name} is cut off until it gets a new token"),
                      highlight=False)
    if token is None:
        return
    console.print(f"token for integration {name}{' (new)' if done.created else ''}: "
                  f"{scope_list(scopes)}; {until(expires_at)}; shown once, keep it safe:",
                  highlight=False)
    print(token)


@integration_app.command("list")
def integration_list() -> None:
    """The integrations, the scopes of their tokens that still work, when they were created and
    cut off (SWITCHBOARD_DATABASE_URL)."""
    found = run_on_store(lambda store: store.integrations(datetime.now(UTC)))
    if not found:
        console.print("no integrations yet (switchboard integration add NAME --scope ...)")
        return
    table = Table(title="integrations", title_justify="left")
    table.add_column("name", overflow="fold")
    table.add_column("scopes", overflow="fold")
    table.add_column("live tokens", justify="right")
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("revoked (UTC)", no_wrap=True)
    for integration in found:
        table.add_row(integration.name, scope_list(integration.scopes),
                      str(integration.live_tokens), f"{integration.created_at:%Y-%m-%d %H:%M}",
                      f"{integration.revoked_at:%Y-%m-%d %H:%M}" if integration.revoked_at
                      else "—")
    console.print(table)
