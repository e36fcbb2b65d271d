"""`switchboard replay`: what if other routing rules had been in force?

Reads past `calls.enriched` and `calls.qualified` from Kafka, decides every call under the
live rules and under a candidate rules file with the router's own policy, and reports the
calls that would go elsewhere, by destination, with examples.

The live consumer group is not disturbed: the reader joins no group (partitions are assigned
by hand, offsets found by time), reads up to the end offsets taken at the start, and never
commits. Each call is decided at the time it happened (its event's `occurred_at`), so
working hours apply as they did then. A repeated input event (a redelivery) counts once.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from services.router.policy import HEAD_OF_DEPARTMENT, qualify, route
from services.router.rules import Rules, RulesError, load_rules
from shared import topics
from shared.events import CallEnriched, CallQualified, CallRouted, Destination, utcnow
from shared.kafka import client_options
from shared.settings import KafkaSettings, RouterSettings

Input = CallEnriched | CallQualified
INPUT_TOPICS = (topics.CALLS_ENRICHED, topics.CALLS_QUALIFIED)


# --- the comparison (pure) ----------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One decision that the candidate rules would make differently."""

    live: CallRouted
    candidate: CallRouted

    @property
    def call_id(self) -> str:
        return self.live.call_id

    @property
    def move(self) -> tuple[str, str, str]:
        return (self.live.stage.value, where(self.live), where(self.candidate))


def where(decision: CallRouted) -> str:
    """The destination, and `owner_head` for the head covering for an unavailable owner."""
    if decision.destination is Destination.OWNER and HEAD_OF_DEPARTMENT in decision.rule_ids:
        return "owner_head"
    return decision.destination.value


@dataclass
class Report:
    live: Rules
    candidate: Rules
    decisions: int = 0
    calls: set[str] = field(default_factory=set)
    changes: list[Change] = field(default_factory=list)
    duplicates: int = 0
    unreadable: int = 0

    @property
    def changed_calls(self) -> int:
        return len({c.call_id for c in self.changes})

    def moves(self) -> list[tuple[tuple[str, str, str], list[Change]]]:
        """The changes grouped by (stage, from, to), the largest group first."""
        grouped: dict[tuple[str, str, str], list[Change]] = defaultdict(list)
        for change in self.changes:
            grouped[change.move].append(change)
        return sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))

    def to_dict(self, examples: int = 3) -> dict[str, object]:
        def side(decision: CallRouted) -> dict[str, object]:
            return {"destination": decision.destination.value, "where": where(decision),
                    "employee_id": str(decision.employee_id) if decision.employee_id else None,
                    "employee_name": decision.employee_name,
                    "reasons": decision.reasons, "rule_ids": decision.rule_ids}

        return {
            "live_rules": {"file": self.live.source, "version": self.live.version},
            "candidate_rules": {"file": self.candidate.source, "version": self.candidate.version},
            "decisions": self.decisions,
            "calls": len(self.calls),
            "changed_decisions": len(self.changes),
            "changed_calls": self.changed_calls,
            "duplicates_skipped": self.duplicates,
            "unreadable_skipped": self.unreadable,
            "moves": [
                {"stage": stage, "from": source, "to": target, "count": len(changes),
                 "examples": [{"call_id": c.call_id, "live": side(c.live),
                               "candidate": side(c.candidate)} for c in changes[:examples]]}
                for (stage, source, target), changes in self.moves()
            ],
        }


def decide(event: Input, rules: Rules) -> CallRouted:
    """The router's decision on a past event, at the time it happened."""
    if isinstance(event, CallEnriched):
        return route(event, rules, event.occurred_at)
    return qualify(event, rules, event.occurred_at)


def goes_elsewhere(live: CallRouted, candidate: CallRouted) -> bool:
    return (live.destination, live.employee_id) != (candidate.destination,
                                                    candidate.employee_id)


def replay(events: Iterable[Input], live: Rules, candidate: Rules) -> Report:
    """Every event decided under both rules; the decisions that differ."""
    report = Report(live, candidate)
    seen = set()
    for event in events:
        if event.event_id in seen:
            report.duplicates += 1
            continue
        seen.add(event.event_id)
        report.decisions += 1
        report.calls.add(event.call_id)
        before, after = decide(event, live), decide(event, candidate)
        if goes_elsewhere(before, after):
            report.changes.append(Change(before, after))
    return report


# --- reading the past from Kafka ----------------------------------------------------------


@dataclass
class Recorded:
    events: list[Input] = field(default_factory=list)
    unreadable: int = 0


def parse_record(topic: str, value: bytes | None) -> Input | None:
    model = CallEnriched if topic == topics.CALLS_ENRICHED.name else CallQualified
    try:
        return model.model_validate_json(value or b"")
    except ValidationError:
        return None  # the live router rejected it too


async def input_partitions(settings: KafkaSettings) -> list[TopicPartition]:
    """Every partition of the input topics (those that exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap,
                                client_id="switchboard-replay", **client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics([t.name for t in INPUT_TOPICS])
    finally:
        await admin.close()
    return [TopicPartition(topic["topic"], partition["partition"])
            for topic in described if not topic["error_code"]
            for partition in sorted(topic["partitions"], key=lambda p: p["partition"])]


async def read_recorded(settings: KafkaSettings, since: datetime | None = None,
                        call_id_prefix: str | None = None, idle_timeout: float = 30.0
                        ) -> Recorded:
    """The input events on the topics (from `since` on), up to the end offsets taken now."""
    recorded = Recorded()
    partitions = await input_partitions(settings)
    if not partitions:
        return recorded
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                                enable_auto_commit=False, client_id="switchboard-replay",
                                **client_options(settings))
    await consumer.start()
    try:
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        if since is None:
            await consumer.seek_to_beginning(*partitions)
        else:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in partitions})
            for tp in partitions:
                consumer.seek(tp, found[tp].offset if found.get(tp) else end[tp])
        remaining = {tp for tp in partitions if await consumer.position(tp) < end[tp]}
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= end[tp]:
                        continue
                    event = parse_record(record.topic, record.value)
                    if event is None:
                        recorded.unreadable += 1
                    elif call_id_prefix is None or event.call_id.startswith(call_id_prefix):
                        recorded.events.append(event)
            if batches:
                last_progress = loop.time()
            elif loop.time() - last_progress > idle_timeout:
                raise TimeoutError(f"no records for {idle_timeout:.0f}s while "
                                   f"{len(remaining)} partitions were not read to the end")
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()  # nothing to commit: no group
    return recorded


# --- the command --------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """"2026-11-20", "2026-11-20T09:00:00+03:00" (UTC when no offset), or "90m", "12h",
    "7d", "2w" before now."""
    relative = _RELATIVE.match(text)
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
        except ValueError:
            raise typer.BadParameter(
                f"{text!r}: expected a time like 2026-11-20 or 2026-11-20T09:00+03:00, or an "
                f"age like 90m, 12h, 7d, 2w") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def print_report(console: Console, report: Report, since: datetime | None,
                 examples: int) -> None:
    live, candidate = report.live, report.candidate
    window = f"since {since:%Y-%m-%d %H:%M %Z}" if since else "all retained"
    console.print(f"Replayed [bold]{report.decisions}[/] decisions on {len(report.calls)} "
                  f"calls ({window}; {report.duplicates} repeated and {report.unreadable} "
                  f"unreadable events skipped).")
    console.print(f"Live rules [bold]{live.version}[/] ({live.source}) against candidate "
                  f"[bold]{candidate.version}[/] ({candidate.source}).")
    if not report.changes:
        console.print("[green]No call would go elsewhere.[/]")
        return
    console.print(f"[bold yellow]{len(report.changes)}[/] decisions "
                  f"({report.changed_calls} calls) would go elsewhere:")
    moves = Table("stage", "from (live)", "to (candidate)", "decisions")
    for (stage, source, target), changes in report.moves():
        moves.add_row(stage, source, target, str(len(changes)))
    console.print(moves)
    shown = Table("call", "stage", "live reason", "candidate reason", title="Examples")
    for (stage, _, _), changes in report.moves():
        for change in changes[:examples]:
            shown.add_row(change.call_id, stage, "\n".join(change.live.reasons),
                          "\n".join(change.candidate.reasons))
    console.print(shown)


def replay_command(
    rules: Annotated[Path, typer.Option("--rules", help="The candidate rules file.",
                                        dir_okay=False)],
    since: Annotated[str | None, typer.Option(
        help="Replay calls from this time on: 2026-11-20, 2026-11-20T09:00+03:00, or an age "
             "like 12h, 7d. Default: all that Kafka retains.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    live_rules: Annotated[Path | None, typer.Option(
        help="The rules in force (default: the router's SWITCHBOARD_ROUTER_RULES_FILE).",
        dir_okay=False)] = None,
    call_id_prefix: Annotated[str | None, typer.Option(
        help="Only calls whose id starts with this, e.g. a PBX: 'office-1:'.")] = None,
    examples: Annotated[int, typer.Option(min=0, help="Example calls per change.")] = 3,
) -> None:
    """What if the candidate rules had been in force? Decides past calls (calls.enriched,
    calls.qualified) under the live and the candidate rules and shows the calls that would go
    elsewhere. Reads Kafka without a consumer group: the live router is not disturbed."""
    err = Console(stderr=True)
    start = parse_since(since, utcnow()) if since else None
    try:
        live = load_rules(live_rules or RouterSettings().rules_file)
        candidate = load_rules(rules)
    except RulesError as e:
        err.print(f"[red]{e}[/]", highlight=False)
        raise typer.Exit(2) from None
    try:
        recorded = asyncio.run(read_recorded(KafkaSettings(), start, call_id_prefix))
    except Exception as e:  # the broker away, a timeout: say so, no traceback
        err.print(f"[red]reading Kafka failed: {type(e).__name__}: {e}[/]", highlight=False)
        raise typer.Exit(1) from None
    report = replay(recorded.events, live, candidate)
    report.unreadable = recorded.unreadable
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(examples), ensure_ascii=False, indent=2)
                         + "\n")
    else:
        print_report(Console(), report, start, examples)
