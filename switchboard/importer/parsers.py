"""How a data row becomes an EmployeeRow or a ClientRow, or the reasons it cannot. Pure: no I/O.

The flow is `decode(bytes)` -> `CsvSource(text, ...)` (delimiter, header, column mapping) ->
`EmployeeParser` / `ClientParser`, which turn each data row into a row model or report what
is wrong with it (line, column, reason). The repository loads the rows; the parsers never
touch the database, so whatever needs the database (an owner e-mail that names nobody, an
extension held by somebody else) is checked there. Each value is checked by
`shared.clientbase.checks`, as the CRM API checks it, so both say the same words; what only a
file can get wrong (a row too wide, a value an earlier line already gave) is checked here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

from shared.clientbase import checks
from shared.clientbase.checks import Invalid
from shared.events import Department, Role, Segment
from switchboard.importer.headers import Header, parse_column_mapping
from switchboard.importer.problems import Issue
from switchboard.importer.reading import CsvSource, RawRow
from switchboard.importer.rows import ClientRow, EmployeeRow, FileKind, Parsed


# Several numbers in one cell: `,` `;` `|` or a line break separates them. Inside a cell
# the CSV quoting already kept the file's delimiter from splitting the cell.
_LIST_SEPARATORS = re.compile(r"[,;|\r\n]+")


def split_list(cell: str) -> list[str]:
    return [part.strip() for part in _LIST_SEPARATORS.split(cell) if part.strip()]


class _Cells:
    """The cells of one row by field, with the file's column names for the messages."""

    def __init__(self, header: Header, raw: RawRow) -> None:
        self.line = raw.line
        self.values: dict[str, list[tuple[str, str]]] = {}
        for name, target, cell in zip(header.names, header.columns, raw.cells, strict=False):
            if target is not None:
                self.values.setdefault(target, []).append((name, cell.strip()))

    def one(self, name: str) -> tuple[str, str]:
        """(column name, stripped cell); an absent column reads as an empty cell."""
        found = self.values.get(name)
        return found[0] if found else (name, "")

    def many(self, name: str) -> list[tuple[str, str]]:
        return [(column, part) for column, cell in self.values.get(name, [])
                for part in split_list(cell)]


class _Findings:
    """What is wrong with one row, in the order the checks found it."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.issues: list[Issue] = []

    def reject(self, column: str, reason: str) -> None:
        """The row cannot be loaded."""
        self.issues.append(Issue(self.line, column, reason))

    def skip(self, column: str, reason: str) -> None:
        """One value is left out; the row still loads."""
        self.issues.append(Issue(self.line, column, reason, rejected=False))

    @property
    def rejected(self) -> bool:
        return any(issue.rejected for issue in self.issues)


def _already(value: str, first_lines: dict[str, int]) -> str | None:
    """The reason a value the file already gave on an earlier line is refused, if it did."""
    if value in first_lines:
        return f"{value} is already on line {first_lines[value]}"
    return None


def _too_wide(header: Header, raw: RawRow, delimiter: str) -> Issue | None:
    """A row wider than the header has a cell that lost its quoting (`+7 916 ..., +7 495 ...`
    unquoted in a comma file): its values would shift into the wrong columns, so it is
    rejected. A shorter row (trailing empty cells left out) reads as empty cells."""
    if len(raw.cells) > len(header.names):
        shown = "TAB" if delimiter == "\t" else delimiter
        return Issue(raw.line, None,
                     f"{len(raw.cells)} cells but the header has {len(header.names)}: "
                     f"a cell containing '{shown}' must be in double quotes")
    return None


def _name(cells: _Cells, found: _Findings) -> str:
    column, text = cells.one("name")
    try:
        return checks.name(text)
    except Invalid as problem:
        found.reject(column, str(problem))
        return text


RowT = TypeVar("RowT", EmployeeRow, ClientRow)


class _RowParser(Generic[RowT]):
    """What both parsers do with a data row: refuse one wider than the header, read the row's
    cells, and remember the keys of a row that loads, so a later row repeating them is told."""

    def __init__(self, header: Header, region: str = "RU", delimiter: str = ",") -> None:
        self.header, self.region, self.delimiter = header, region, delimiter

    def parse(self, raw: RawRow) -> Parsed:
        if (wide := _too_wide(self.header, raw, self.delimiter)) is not None:
            return Parsed(raw.line, None, [wide])
        found = _Findings(raw.line)
        row = self._read(_Cells(self.header, raw), found)
        if row is None:
            return Parsed(raw.line, None, found.issues)
        self._remember(row)
        return Parsed(raw.line, row, found.issues)

    def _read(self, cells: _Cells, found: _Findings) -> RowT | None:
        """The row model, or None when `found` holds a reason to reject the row."""
        raise NotImplementedError

    def _remember(self, row: RowT) -> None:
        raise NotImplementedError


class EmployeeParser(_RowParser[EmployeeRow]):
    """Turns data rows of an employees file into EmployeeRow; a second row with the same
    e-mail, extension or direct number is reported, not loaded. Any bad value rejects the row."""

    def __init__(self, header: Header, region: str = "RU", delimiter: str = ",") -> None:
        super().__init__(header, region, delimiter)
        self._emails: dict[str, int] = {}
        self._extensions: dict[str, int] = {}
        self._directs: dict[str, int] = {}

    def _read(self, cells: _Cells, found: _Findings) -> EmployeeRow | None:
        email = self._email(cells, found)
        name = _name(cells, found)
        department = self._department(cells, found)
        role = self._role(cells, found)
        extension = self._extension(cells, found)
        direct_number = self._direct_number(cells, found)
        capacity = self._capacity(cells, found)
        if found.rejected:
            return None
        assert email and department and role
        return EmployeeRow(cells.line, email, name, department, role, extension, direct_number,
                           capacity)

    def _remember(self, row: EmployeeRow) -> None:
        self._emails[row.email] = row.line
        if row.extension:
            self._extensions[row.extension] = row.line
        if row.direct_number:
            self._directs[row.direct_number] = row.line

    def _email(self, cells: _Cells, found: _Findings) -> str | None:
        column, text = cells.one("email")
        email = _checked(checks.email, text, column, found)
        if email is not None and (reason := _already(email, self._emails)):
            found.reject(column, reason)
        return email

    @staticmethod
    def _department(cells: _Cells, found: _Findings) -> Department | None:
        column, text = cells.one("department")
        return _checked(checks.department, text, column, found)

    @staticmethod
    def _role(cells: _Cells, found: _Findings) -> Role | None:
        column, text = cells.one("role")
        return _checked(checks.role, text, column, found)

    def _extension(self, cells: _Cells, found: _Findings) -> str | None:
        """None: not given (the current value stays)."""
        column, text = cells.one("extension")
        extension = _checked(checks.extension, text, column, found)
        if extension is not None and (reason := _already(extension, self._extensions)):
            found.reject(column, f"extension {reason}")
        return extension

    def _direct_number(self, cells: _Cells, found: _Findings) -> str | None:
        """None: not given (the current value stays)."""
        column, text = cells.one("direct_number")
        number = _checked(lambda t: checks.direct_number(t, self.region), text, column, found)
        if number is not None and (reason := _already(number, self._directs)):
            found.reject(column, reason)
        return number

    @staticmethod
    def _capacity(cells: _Cells, found: _Findings) -> int | None:
        """None: not given (an insert takes the schema's default, an update keeps the value)."""
        column, text = cells.one("capacity")
        return _checked(checks.capacity, text, column, found)


class ClientParser(_RowParser[ClientRow]):
    """Turns data rows of a clients file into ClientRow.

    A bad scalar (external id, name, segment) rejects the row. A bad phone, range or owner
    e-mail is skipped and reported, and the client still loads with the rest: a known client
    with two of its three numbers is better than an unknown one. A number listed by two rows
    stays with the first (so a re-import is stable), and the later row is told so.
    """

    def __init__(self, header: Header, region: str = "RU", delimiter: str = ",") -> None:
        super().__init__(header, region, delimiter)
        self._ids: dict[str, int] = {}
        self._phones: dict[str, int] = {}
        self._ranges: dict[str, int] = {}

    def _read(self, cells: _Cells, found: _Findings) -> ClientRow | None:
        external_id = self._external_id(cells, found)
        name = _name(cells, found)
        segment = self._segment(cells, found)
        _, tax_id = cells.one("tax_id")
        owner = self._owner(cells, found)
        phones = self._numbers(cells, "phones", found, self._phones,
                               lambda text: checks.phone(text, self.region))
        ranges = self._numbers(cells, "number_ranges", found, self._ranges,
                               lambda text: checks.number_range(text, self.region))
        if found.rejected:
            return None
        assert segment is not None
        return ClientRow(cells.line, external_id, name, segment, checks.tax_id(tax_id), owner,
                         tuple(phones), tuple(ranges))

    def _remember(self, row: ClientRow) -> None:
        self._ids[row.external_id] = row.line
        for phone in row.phones:
            self._phones[phone] = row.line
        for prefix in row.number_ranges:
            self._ranges[prefix] = row.line

    def _external_id(self, cells: _Cells, found: _Findings) -> str:
        column, text = cells.one("external_id")
        external_id = _checked(checks.external_id, text, column, found)
        if external_id is not None and (reason := _already(external_id, self._ids)):
            found.reject(column, reason)
        return text

    @staticmethod
    def _segment(cells: _Cells, found: _Findings) -> Segment | None:
        column, text = cells.one("segment")
        return _checked(checks.segment, text, column, found)

    @staticmethod
    def _owner(cells: _Cells, found: _Findings) -> str | None:
        column, text = cells.one("owner_email")
        try:
            return checks.owner_email(text)
        except Invalid as problem:
            found.skip(column, f"{problem}; no owner set")
            return None

    @staticmethod
    def _numbers(cells: _Cells, field: str, found: _Findings, first_lines: dict[str, int],
                 check: Callable[[str], str]) -> list[str]:
        """The distinct usable numbers (or prefixes) of a list field; one that is not usable,
        or that an earlier row of the file holds, is skipped and reported."""
        kept: list[str] = []
        for column, text in cells.many(field):
            try:
                value = check(text)
            except Invalid as problem:
                found.skip(column, f"{problem}; skipped")
                continue
            if value in kept:
                continue
            elif reason := _already(value, first_lines):
                found.skip(column, f"{reason}; skipped")
            else:
                kept.append(value)
        return kept


CheckedT = TypeVar("CheckedT")


def _checked(check: Callable[[str], CheckedT], text: str, column: str,
             found: _Findings) -> CheckedT | None:
    """The checked value of a cell, or None with the row rejected for the check's reason."""
    try:
        return check(text)
    except Invalid as problem:
        found.reject(column, str(problem))
        return None


def parser_for(kind: FileKind, header: Header, region: str = "RU",
               delimiter: str = ",") -> EmployeeParser | ClientParser:
    cls = EmployeeParser if kind is FileKind.EMPLOYEES else ClientParser
    return cls(header, region, delimiter)


def parse_text(text: str, kind: FileKind, columns: str | None = None, delimiter: str | None = None,
               region: str = "RU") -> tuple[CsvSource, list[Parsed]]:
    """The whole file at once (for tests and small files)."""
    source = CsvSource(text, kind, parse_column_mapping(columns, kind), delimiter)
    parser = parser_for(kind, source.header, region, source.delimiter)
    parsed = [Parsed(item.line, None, [item]) if isinstance(item, Issue) else parser.parse(item)
              for item in source]
    return source, parsed
