"""`switchboard user set-password EMAIL` and `switchboard user invite EMAIL`: how people get
the password they sign in with.

Only the password's argon2id hash is stored, and of an invitation link only its token's
SHA-256. Audit: `password.set`, `user.invite`.
"""

from __future__ import annotations

import shlex
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from shared.access.credentials import (
    INVITATION_TOKEN,
    hash_password,
    new_token,
    password_problem,
    token_hash,
)
from shared.settings import AccessSettings, LookupSettings
from switchboard.access_store import Person, run_on_store
from switchboard.token import until

user_app = typer.Typer(help="People's passwords and invitations.", no_args_is_help=True)
console = Console(soft_wrap=True)  # a path, a URL or a token on one line, as scripts read them
error_console = Console(stderr=True, soft_wrap=True)

Email = Annotated[str, typer.Argument(help="The employee's e-mail.", show_default=False)]


def known_person(email: str) -> Person:
    someone = run_on_store(lambda store: store.person(email))
    if someone is None:
        error_console.print(f"[bold red]no employee has the e-mail[/] {email!r}")
        raise typer.Exit(1)
    if not someone.active:
        console.print(f"[yellow]{someone.name} is not active: they can sign in once they are[/]")
    return someone


def password_from_terminal() -> str:
    while True:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
        problem = password_problem(password)
        if problem is None:
            return password
        error_console.print(f"[red]refused:[/] {problem}; again, or Ctrl-C to give up")


def password_from_stdin() -> str:
    """The first line of standard input, without its line break, as it is (a script pipes
    it in)."""
    line = sys.stdin.readline()
    if not line:
        error_console.print("[bold red]no password on standard input[/] (one line)")
        raise typer.Exit(1)
    password = line.removesuffix("\n").removesuffix("\r")
    problem = password_problem(password)
    if problem is not None:
        error_console.print(f"[bold red]password refused:[/] {problem}")
        raise typer.Exit(1)
    return password


@user_app.command("set-password")
def set_password(email: Email) -> None:
    """Set an employee's password: asked twice on a terminal, else read from the first line of
    standard input (SWITCHBOARD_DATABASE_URL)."""
    someone = known_person(email)
    password = password_from_terminal() if sys.stdin.isatty() else password_from_stdin()
    password_hash = hash_password(password)
    ended = run_on_store(lambda store: store.set_password(someone, password_hash))
    console.print(f"password of {someone.name} ({someone.email}) set"
                  + (f"; {ended} session(s) of theirs ended" if ended else ""), highlight=False)


@user_app.command("invite")
def invite(email: Email) -> None:
    """Print a one-time link with which the employee sets their password
    (SWITCHBOARD_DATABASE_URL, SWITCHBOARD_ACCESS_PUBLIC_URL, _INVITATION_HOURS)."""
    settings = AccessSettings()
    someone = known_person(email)
    token = new_token(INVITATION_TOKEN)
    expires_at = (datetime.now(UTC) + timedelta(hours=settings.invitation_hours)
                  ).replace(microsecond=0)
    replaced = run_on_store(lambda store: store.invite(someone, token_hash(token), expires_at))
    if replaced:
        console.print(f"the earlier link(s) of {someone.name} no longer work", highlight=False)
    console.print(f"invitation for {someone.name} ({someone.email}), {until(expires_at)}; "
                  "works once, send it to them only:", highlight=False)
    print(f"{settings.public_url.rstrip('/')}/invite/{token}")
    lookup = LookupSettings()
    body = shlex.quote('{"password": "..."}')
    console.print("or, without a browser, the lookup service's API sets the password:",
                  highlight=False)
    print(f"  curl -X POST http://{lookup.host}:{lookup.port}/v1/invitations/{token} "
          f"-H 'Content-Type: application/json' -d {body}")
