"""`switchboard import employees FILE` and `switchboard import clients FILE`.

`run_import` reads the file (reading.py), parses it in batches (parsers.py) and loads each
batch (repository.py); the typer commands only print what it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import asyncpg
import phonenumbers
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from shared.access.store import audit
from shared.settings import DatabaseSettings
from switchboard.importer.headers import parse_column_mapping
from switchboard.importer.parsers import ClientParser, EmployeeParser, parser_for
from switchboard.importer.problems import FileProblem, Issue
from switchboard.importer.reading import CsvSource, decode, delimiter_option
from switchboard.importer.repository import BatchResult, ImportRepository, Moved
from switchboard.importer.rows import DEFAULT_CAPACITY, ClientRow, EmployeeRow, FileKind

BATCH_ROWS = 5_000
PROGRESS_FROM_BYTES = 1_000_000  # smaller files load too fast for a progress bar to help
SHOWN_ISSUES = 30

import_app = typer.Typer(
    help="Import employees and clients from CSV files exported by a CRM.", no_args_is_help=True
)
console = Console(soft_wrap=True)  # a path, a URL or a token on one line, as scripts read them
error_console = Console(stderr=True)


@dataclass
class ImportReport:
    kind: FileKind
    path: Path
    encoding: str = "utf-8"
    delimiter: str = ","
    ignored_columns: tuple[str, ...] = ()
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    issues: list[Issue] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    phones_written: int = 0
    ranges_written: int = 0
    owners_set: int = 0
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return len({i.line for i in self.issues if i.rejected})

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def loaded_with_warnings(self) -> int:
        """Rows loaded although a value of theirs (a phone, an owner) was skipped."""
        rejected = {i.line for i in self.issues if i.rejected}
        return len({i.line for i in self.issues if not i.rejected} - rejected)

    def add(self, batch: BatchResult) -> None:
        self.inserted += batch.inserted
        self.updated += batch.updated
        self.unchanged += batch.unchanged
        self.issues += batch.issues
        self.moved += batch.moved
        self.phones_written += batch.phones_written
        self.ranges_written += batch.ranges_written
        self.owners_set += batch.owners_set


ProgressCallback = Callable[[int, int], None]  # (characters read, characters in all)


async def run_import(
    path: Path,
    kind: FileKind,
    database_url: str,
    *,
    columns: str | None = None,
    delimiter: str | None = None,
    region: str = "RU",
    now: datetime | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import one file; raises FileProblem if the file as a whole cannot be imported."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise FileProblem(f"--region: {region!r} is not a country code like RU or KZ")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FileProblem(f"cannot read {path}: {error.strerror or error}") from None
    text, encoding = decode(data)
    mapping = parse_column_mapping(columns, kind)
    source = CsvSource(text, kind, mapping, delimiter_option(delimiter))
    parser = parser_for(kind, source.header, region, source.delimiter)
    report = ImportReport(kind, path, encoding, source.delimiter, source.header.ignored)
    names = {}
    for name, target in zip(source.header.names, source.header.columns, strict=True):
        if target:
            names.setdefault(target, name)

    conn = await asyncpg.connect(database_url)
    try:
        repository = ImportRepository(conn)

        async def load(batch: list[EmployeeRow | ClientRow]) -> None:
            try:
                if kind is FileKind.EMPLOYEES:
                    employees = [r for r in batch if isinstance(r, EmployeeRow)]
                    result = await repository.upsert_employees(employees, DEFAULT_CAPACITY)
                else:
                    clients = [r for r in batch if isinstance(r, ClientRow)]
                    result = await repository.upsert_clients(clients, now)
            except asyncpg.PostgresError as error:
                # Something the checks did not foresee (a concurrent writer, say): this batch
                # is lost, the next ones still load.
                result = BatchResult(issues=[Issue(r.line, None, f"database refused the batch: "
                                                                 f"{error}") for r in batch])
            for issue in result.issues:  # the database speaks in fields, the user in columns
                if issue.column in names:
                    issue = Issue(issue.line, names[issue.column], issue.reason, issue.rejected)
                report.issues.append(issue)
            result.issues = []
            report.add(result)

        # The next batch is parsed in a thread while the database loads this one.
        batches = _batches(source, parser, report, batch_rows)
        upcoming = asyncio.create_task(asyncio.to_thread(next, batches, None))
        try:
            while (batch := await upcoming) is not None:
                upcoming = asyncio.create_task(asyncio.to_thread(next, batches, None))
                await load(batch)
                if progress:
                    progress(source.position, source.size)
        finally:
            # A thread cannot be cancelled: let the parse under way end before we return.
            with contextlib.suppress(Exception):
                await upcoming
        await audit(conn, None, "import", f"{kind} {path.name}", _counts(report))
    finally:
        await conn.close()
    if progress:
        progress(source.size, source.size)
    report.issues.sort(key=lambda i: i.line)
    report.seconds = time.perf_counter() - started
    return report


def _counts(report: ImportReport) -> dict[str, int]:
    """What an import run did, for its audit line."""
    counts = {"rows_read": report.rows_read, "inserted": report.inserted,
              "updated": report.updated, "unchanged": report.unchanged,
              "rejected": report.rejected, "loaded_with_warnings": report.loaded_with_warnings}
    if report.kind is FileKind.CLIENTS:
        counts |= {"phones_written": report.phones_written,
                   "ranges_written": report.ranges_written, "numbers_moved": len(report.moved),
                   "owners_set": report.owners_set}
    return counts


def _batches(source: CsvSource, parser: EmployeeParser | ClientParser, report: ImportReport,
             batch_rows: int) -> Iterator[list[EmployeeRow | ClientRow]]:
    """Parsed rows in batches; the rows read and the problems found go into `report`."""
    batch: list[EmployeeRow | ClientRow] = []
    for item in source:
        report.rows_read += 1
        if isinstance(item, Issue):
            report.issues.append(item)
            continue
        parsed = parser.parse(item)
        report.issues += parsed.issues
        if parsed.row is not None:
            batch.append(parsed.row)
        if len(batch) >= batch_rows:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------
# The command line

Columns = Annotated[str | None, typer.Option(
    "--columns",
    help="Map the file's headers to fields: \"Телефоны=phones,Ответственный=owner_email\" "
         "(HEADER=- ignores a column). Common Russian and English headers map by themselves.")]
Delimiter = Annotated[str, typer.Option(
    "--delimiter", help="Cell delimiter: auto (from the header line), ',', ';' or 'tab'.")]
Region = Annotated[str, typer.Option(
    "--region", help="Country of numbers written without a country code (ISO code).")]
ReportFile = Annotated[Path | None, typer.Option(
    "--report", help="Write every problem found (line, column, reason) to this CSV file.")]
File = Annotated[Path, typer.Argument(help="The CSV file.", show_default=False)]


@import_app.command("employees")
def import_employees(file: File, columns: Columns = None, delimiter: Delimiter = "auto",
                     region: Region = "RU", report: ReportFile = None) -> None:
    """Import employees: email,name,department,role,extension,direct_number,capacity."""
    _run(FileKind.EMPLOYEES, file, columns, delimiter, region, report)


@import_app.command("clients")
def import_clients(file: File, columns: Columns = None, delimiter: Delimiter = "auto",
                   region: Region = "RU", report: ReportFile = None) -> None:
    """Import clients: external_id,name,segment,phones,owner_email,tax_id,number_ranges."""
    _run(FileKind.CLIENTS, file, columns, delimiter, region, report)


def _run(kind: FileKind, file: Path, columns: str | None, delimiter: str, region: str,
         report_path: Path | None) -> None:
    url = DatabaseSettings().url
    show_progress = file.is_file() and file.stat().st_size >= PROGRESS_FROM_BYTES
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not show_progress) as bar:
        task = bar.add_task(f"importing {kind}", total=None)
        try:
            report = asyncio.run(run_import(
                file, kind, url, columns=columns, delimiter=delimiter, region=region,
                progress=lambda done, total: bar.update(task, completed=done, total=total)))
        except FileProblem as problem:
            error_console.print(f"[bold red]cannot import {file}:[/] {problem}")
            raise typer.Exit(1) from None
        except (OSError, asyncpg.PostgresError) as error:
            error_console.print(f"[bold red]database error[/] ({url.split('@')[-1]}): {error}")
            raise typer.Exit(1) from None
    print_report(report, console)
    if report_path is not None:
        write_issues(report, report_path)
        console.print(f"all problems written to {report_path}")
    if report.rows_read and not report.loaded:
        raise typer.Exit(2)  # a readable file of which no row could be loaded


def print_report(report: ImportReport, out: Console) -> None:
    shown_delimiter = "TAB" if report.delimiter == "\t" else report.delimiter
    out.print(f"[bold]{report.path}[/]: {report.kind}, {report.encoding}, "
              f"delimiter '{shown_delimiter}'")
    if report.ignored_columns:
        out.print("[yellow]columns ignored[/] (map them with --columns HEADER=FIELD): "
                  + ", ".join(repr(c) for c in report.ignored_columns))
    if report.issues:
        table = Table(title=f"problems ({len(report.issues)})", title_justify="left")
        table.add_column("line", justify="right")
        table.add_column("column")
        table.add_column("row")
        table.add_column("reason")
        for issue in report.issues[:SHOWN_ISSUES]:
            table.add_row(str(issue.line), issue.column or "—",
                          "[red]rejected[/]" if issue.rejected else "[yellow]loaded[/]",
                          issue.reason)
        out.print(table)
        if len(report.issues) > SHOWN_ISSUES:
            more = len(report.issues) - SHOWN_ISSUES
            out.print(f"... and {more} more (--report FILE lists them all)")
    if report.moved:
        table = Table(title=f"numbers moved from another client ({len(report.moved)})",
                      title_justify="left")
        for name in ("line", "number", "from", "to"):
            table.add_column(name)
        for moved in report.moved[:SHOWN_ISSUES]:
            table.add_row(str(moved.line), moved.value, moved.from_external_id or "?",
                          moved.to_external_id)
        out.print(table)
    summary = Table(title="summary", title_justify="left", show_header=False)
    summary.add_column(justify="left")
    summary.add_column(justify="right")
    rate = report.rows_read / report.seconds if report.seconds else 0.0
    for label, value in (("rows read", report.rows_read), ("inserted", report.inserted),
                         ("updated", report.updated), ("unchanged", report.unchanged),
                         ("rejected", report.rejected),
                         ("loaded with warnings", report.loaded_with_warnings)):
        summary.add_row(label, f"{value:,}")
    if report.kind is FileKind.CLIENTS:
        summary.add_row("phones written", f"{report.phones_written:,}")
        summary.add_row("ranges written", f"{report.ranges_written:,}")
        summary.add_row("numbers moved", f"{len(report.moved):,}")
        summary.add_row("owners set", f"{report.owners_set:,}")
    summary.add_row("seconds", f"{report.seconds:.1f} ({rate:,.0f} rows/s)")
    out.print(summary)


def write_issues(report: ImportReport, path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "column", "row", "reason"])
        for issue in report.issues:
            writer.writerow([issue.line, issue.column or "",
                             "rejected" if issue.rejected else "loaded", issue.reason])
