"""`switchboard`: the operator's command line (dev stack, database, topics)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared import db
from shared.kafka import create_topics
from shared.settings import DatabaseSettings, KafkaSettings
from switchboard.audit import audit_command
from switchboard.bench import bench_command
from switchboard.desk_bench import desk_bench_command
from switchboard.importer import import_app
from switchboard.integrations import integration_app
from switchboard.replay import replay_command
from switchboard.ring_bench import ring_bench_command
from switchboard.token import token_command
from switchboard.users import user_app

app = typer.Typer(help="Switchboard: routes a company's incoming sales calls.",
                  no_args_is_help=True)
db_app = typer.Typer(help="The client base database.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
dev_app = typer.Typer(help="The local stack without Docker.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
app.add_typer(dev_app, name="dev")
app.add_typer(import_app, name="import")
app.add_typer(user_app, name="user")
app.add_typer(integration_app, name="integration")

app.command("replay")(replay_command)
app.command("token")(token_command)
app.command("audit")(audit_command)
app.command("bench")(bench_command)
app.command("ring-bench")(ring_bench_command)
app.command("desk-bench")(desk_bench_command)

console = Console(soft_wrap=True)  # a path, a URL or a token on one line, as scripts read them
Root = Annotated[Path, typer.Option(help="Folder the dev stack owns.")]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations that are not applied yet (SWITCHBOARD_DATABASE_URL)."""
    applied = asyncio.run(db.upgrade(DatabaseSettings().url))
    console.print(f"applied: {', '.join(applied)}" if applied else "database is up to date")


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic of the registry that does not exist (SWITCHBOARD_KAFKA_*)."""
    created = asyncio.run(create_topics(KafkaSettings()))
    console.print(f"created: {', '.join(created)}" if created else "all topics exist")


@dev_app.command("up")
def dev_up(
    demo: Annotated[bool, typer.Option(help="Load a demo client base and feed calls.")] = False,
    partitions: Annotated[int, typer.Option(help="Partitions per topic.")] = 6,
    interval: Annotated[float, typer.Option(help="Seconds between the demo story's moments (ring, answer, verdict).")] = 2.5,
    root: Root = Path(".switchboard"),
) -> None:
    """Start Kafka, PostgreSQL and the four services; Ctrl-C stops everything."""
    from switchboard.dev_up import run_dev_up

    run_dev_up(root, partitions, demo, interval, console)


@dev_app.command("down")
def dev_down(root: Root = Path(".switchboard")) -> None:
    """Stop a running `switchboard dev up` in this folder, and whatever it left running."""
    from switchboard.devstack import stop_dev_up, stop_leftovers

    root = root.resolve()
    stopped = stop_dev_up(root) + stop_leftovers(root)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
