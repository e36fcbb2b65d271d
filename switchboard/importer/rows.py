"""Parsing and validation of the CSV files a CRM exports: employees and clients. Pure: no I/O.

The flow is `decode(bytes)` -> `CsvSource(text, ...)` (delimiter, header, column mapping) ->
`EmployeeParser` / `ClientParser`, which turn each data row into a row model or report what
is wrong with it (line, column, reason). The repository loads the rows; this module never
touches the database, so whatever needs the database (an owner e-mail that names nobody, an
extension held by somebody else) is checked there.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers

from shared.events import CallerStatus, Department, Segment, derive_event_id
from shared.phones import normalise

DEFAULT_CAPACITY = 10  # the schema's default: leads an employee works at once


class Kind(StrEnum):
    EMPLOYEES = "employees"
    CLIENTS = "clients"


class Role(StrEnum):
    AGENT = "agent"
    HEAD = "head"


class FileProblem(Exception):
    """The file as a whole cannot be imported (not text, no header, a required column missing)."""


@dataclass(frozen=True)
class Issue:
    """Something wrong in a row. `rejected`: the row was not loaded; else one value was skipped."""

    line: int
    column: str | None  # the column as the file names it; None for the row as a whole
    reason: str
    rejected: bool = True


# ---------------------------------------------------------------------------------------------
# Columns

EMPLOYEE_FIELDS = ("email", "name", "department", "role", "extension", "direct_number", "capacity")
CLIENT_FIELDS = ("external_id", "name", "segment", "phones", "owner_email", "tax_id",
                 "number_ranges")
FIELDS = {Kind.EMPLOYEES: EMPLOYEE_FIELDS, Kind.CLIENTS: CLIENT_FIELDS}
REQUIRED = {
    Kind.EMPLOYEES: ("email", "name", "department", "role"),
    # Segment is required: it decides the department a call goes to, so no silent default.
    Kind.CLIENTS: ("external_id", "name", "segment"),
}
# Fields that hold several values: several columns may feed them (e.g. "Рабочий телефон" and
# "Мобильный телефон"), and one cell may list several values.
LIST_FIELDS = frozenset({"phones", "number_ranges"})
IGNORE = "-"  # `--columns "Комментарий=-"` drops a column the built-in mapping would take

# Headers that CRMs (amoCRM, Bitrix24, 1C and spreadsheets) commonly use, keyed as
# `header_key` normalises them. The canonical English names always match too.
_EMPLOYEE_HEADERS = {
    "email": ["e-mail", "e mail", "mail", "почта", "эл. почта", "эл почта", "электронная почта",
              "адрес электронной почты", "email сотрудника"],
    "name": ["full name", "employee", "имя", "фио", "сотрудник", "ф.и.о.", "ф. и. о.",
             "имя сотрудника"],
    "department": ["dept", "отдел", "подразделение"],
    "role": ["position", "роль", "должность"],
    "extension": ["ext", "ext.", "добавочный", "доб.", "доб", "добавочный номер",
                  "внутренний номер", "внутренний"],
    "direct_number": ["direct number", "direct phone", "прямой номер", "прямой телефон",
                      "городской номер", "телефон"],
    "capacity": ["ёмкость", "нагрузка", "макс. нагрузка", "максимальная нагрузка", "лимит",
                 "лимит лидов"],
}
_CLIENT_HEADERS = {
    "external_id": ["external id", "id", "crm id", "внешний id", "внешний ид",
                    "внешний идентификатор", "ид", "идентификатор", "код", "код клиента",
                    "id клиента"],
    "name": ["client", "company", "название", "наименование", "клиент", "компания", "имя",
             "фио", "название компании", "контрагент"],
    "segment": ["сегмент", "тип клиента", "категория"],
    "phones": ["phone", "phone numbers", "телефоны", "телефон", "номера телефонов",
               "номер телефона", "рабочий телефон", "мобильный телефон", "мобильный",
               "другой телефон"],
    "owner_email": ["owner", "owner email", "responsible", "ответственный",
                    "ответственный (email)", "ответственный email", "email ответственного",
                    "почта ответственного", "ответственный менеджер"],
    "tax_id": ["tax id", "inn", "инн"],
    "number_ranges": ["number ranges", "ranges", "диапазоны номеров", "диапазон номеров",
                      "номерная ёмкость", "номерная емкость", "диапазоны"],
}


def header_key(text: str) -> str:
    """How headers are compared: case, `ё`, surrounding quotes, a `*` or `:` and spacing aside."""
    text = text.replace("\ufeff", "").strip().strip("\"'").strip().rstrip("*:").strip()
    return re.sub(r"\s+", " ", text.casefold().replace("ё", "е"))


def _builtin(kind: Kind) -> dict[str, str]:
    table = _EMPLOYEE_HEADERS if kind is Kind.EMPLOYEES else _CLIENT_HEADERS
    mapping = {header_key(f): f for f in FIELDS[kind]}
    for target, headers in table.items():
        mapping.update({header_key(h): target for h in headers})
    return mapping


BUILTIN_HEADERS = {kind: _builtin(kind) for kind in Kind}


def parse_column_mapping(spec: str | None, kind: Kind) -> dict[str, str]:
    """`"Телефоны=phones,Ответственный=owner_email"` -> {header key: field}."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        header, sep, target = part.rpartition("=")
        header, target = header.strip(), target.strip()
        if not sep or not header:
            raise FileProblem(f"--columns: {part.strip()!r} is not HEADER=FIELD")
        if target != IGNORE and target not in FIELDS[kind]:
            raise FileProblem(
                f"--columns: {target!r} is not a field of {kind}; "
                f"fields are {', '.join(FIELDS[kind])} (or {IGNORE} to ignore the column)"
            )
        mapping[header_key(header)] = target
    return mapping


@dataclass(frozen=True)
class Header:
    """Which field each column feeds. `columns[i]` is the field of cell i, or None (ignored)."""

    names: tuple[str, ...]  # as written in the file
    columns: tuple[str | None, ...]
    ignored: tuple[str, ...]  # columns nobody maps: shown to the user, who may map them

    def present(self, name: str) -> bool:
        return name in self.columns


def resolve_header(cells: list[str], kind: Kind, mapping: dict[str, str] | None = None) -> Header:
    """Map the file's header to fields; raise FileProblem if it cannot feed the import."""
    names = tuple(c.replace("\ufeff", "").strip() for c in cells)
    if not any(names):
        raise FileProblem("the first line is empty: expected a header")
    lookup = {**BUILTIN_HEADERS[kind], **(mapping or {})}
    columns: list[str | None] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for name in names:
        target = lookup.get(header_key(name))
        if target == IGNORE or not name:
            target = None
        elif target is None:
            ignored.append(name)
        elif target in seen and target not in LIST_FIELDS:
            raise FileProblem(
                f"columns {seen[target]!r} and {name!r} both map to {target}; "
                f"ignore one with --columns \"{name}=-\""
            )
        else:
            seen.setdefault(target, name)
        columns.append(target)
    missing = [f for f in REQUIRED[kind] if f not in seen]
    if missing:
        raise FileProblem(
            f"required column(s) {', '.join(missing)} not found in the header "
            f"({', '.join(repr(n) for n in names)}); map them with --columns \"HEADER=FIELD\""
        )
    return Header(names, tuple(columns), tuple(ignored))


# ---------------------------------------------------------------------------------------------
# The file


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and its encoding: UTF-8 (a BOM is dropped), else Windows-1251.

    Russian Excel saves "CSV" as Windows-1251; a file that is not valid UTF-8 is read so.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1251"), "cp1251"
    except UnicodeDecodeError as error:
        raise FileProblem(f"the file is neither UTF-8 nor Windows-1251 text ({error})") from None


CANDIDATE_DELIMITERS = (",", ";", "\t")


def sniff_delimiter(header_line: str) -> str:
    """The delimiter is what separates the header's cells (headers hold no phone lists)."""
    counts = dict.fromkeys(CANDIDATE_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(CANDIDATE_DELIMITERS, key=lambda d: counts[d])  # ties: the first, ","
    return best if counts[best] else ","


def delimiter_option(value: str | None) -> str | None:
    """`--delimiter`: auto (None), a single character, or `tab`."""
    if value is None or value.lower() in ("", "auto"):
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}
    value = named.get(value.lower(), value)
    if len(value) != 1:
        raise FileProblem(f"--delimiter: {value!r} is not one character, 'tab' or 'auto'")
    return value


@dataclass(frozen=True)
class RawRow:
    line: int  # the line the row starts on (the header is line 1)
    cells: list[str]


class CsvSource:
    """The rows of a CSV text, with the header resolved and the position for a progress bar."""

    def __init__(self, text: str, kind: Kind, mapping: dict[str, str] | None = None,
                 delimiter: str | None = None) -> None:
        if not text.strip():
            raise FileProblem("the file is empty: expected a header line")
        first_line = re.match(r"[^\r\n]*", text.lstrip("\ufeff"))[0]
        self.delimiter = delimiter or sniff_delimiter(first_line)
        self.size = len(text)
        self.position = 0
        self._reader = csv.reader(self._lines(io.StringIO(text, newline="")),
                                  delimiter=self.delimiter, quotechar='"', skipinitialspace=False)
        try:
            header_cells = next(self._reader)
        except csv.Error as error:
            raise FileProblem(f"line 1: the header is not valid CSV ({error})") from None
        self.header = resolve_header(header_cells, kind, mapping)

    def _lines(self, stream: io.StringIO) -> Iterator[str]:
        for line in stream:
            self.position += len(line)
            yield line

    def __iter__(self) -> Iterator[RawRow | Issue]:
        """Each data row, or an Issue for a line that is not valid CSV; blank rows are skipped."""
        last = self._reader.line_num
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Issue(last + 1, None, f"not valid CSV: {error}")
                last = self._reader.line_num
                continue
            line, last = last + 1, self._reader.line_num
            if any(c.strip() for c in cells):
                yield RawRow(line, cells)


# ---------------------------------------------------------------------------------------------
# Values


def _value_key(text: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", text.casefold().replace("ё", "е")).strip()


def _values(table: dict[str, list[str]]) -> dict[str, str]:
    return {_value_key(alias): value for value, aliases in table.items()
            for alias in [value, *aliases]}


DEPARTMENTS = _values({
    Department.CLIENT: ["клиентский", "клиентский отдел", "отдел по работе с клиентами",
                        "client department", "switchboard", "коммутатор"],
    Department.COMMERCIAL: ["коммерческий", "коммерческий отдел", "отдел продаж", "продажи",
                            "commercial department", "sales"],
})
# "Менеджер" in a Russian CRM is a salesperson, not a head: it maps to agent.
ROLES = _values({
    Role.AGENT: ["менеджер", "менеджер по продажам", "сотрудник", "оператор", "агент",
                 "специалист", "продавец", "переговорщик"],
    Role.HEAD: ["руководитель", "руководитель отдела", "руководитель отдела продаж",
                "начальник", "начальник отдела", "начальник отдела продаж", "роп",
                "head of sales"],
})
SEGMENTS = _values({
    Segment.INDIVIDUAL: ["физлицо", "физ лицо", "физическое лицо", "частное лицо", "частник",
                         "person", "private"],
    Segment.SMALL_BUSINESS: ["small business", "малый бизнес", "малый", "ип", "smb",
                             "индивидуальный предприниматель"],
    Segment.CORPORATE: ["corporate", "корпоративный", "корпоративный клиент", "корпорация",
                        "юрлицо", "юр лицо", "юридическое лицо", "средний бизнес"],
    Segment.LARGE_CORPORATE: ["large corporate", "крупный корпоративный",
                              "крупный корпоративный клиент", "крупный бизнес", "крупный",
                              "крупный клиент", "ключевой клиент", "enterprise"],
})

_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_EXTENSION = re.compile(r"^\d{2,6}$")  # what the PBX dials internally (shared.phones agrees)
# Several numbers in one cell: `,` `;` `|` or a line break separates them. Inside a cell
# the CSV quoting already kept the file's delimiter from splitting the cell.
_LIST_SEPARATORS = re.compile(r"[,;|\r\n]+")


def split_list(cell: str) -> list[str]:
    return [part.strip() for part in _LIST_SEPARATORS.split(cell) if part.strip()]


def normalise_email(text: str) -> str | None:
    """`Ivan@Example.ru`, `<ivan@example.ru>`, `Иван Петров <ivan@example.ru>`, `mailto:...`
    -> `ivan@example.ru`; None if it is not an address."""
    if (match := re.fullmatch(r"[^<>]*<([^<>]+)>\s*", text)) is not None:
        text = match[1]
    text = text.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.lower() if _EMAIL.match(text) else None


def normalise_prefix(text: str, region: str) -> str | None:
    """A number range `+7 495 100-` -> `+7495100`: '+' and digits; a national prefix
    (`8 495 100` in RU) becomes the country code. None if it is not a usable prefix."""
    raw = text.strip()
    digits = re.sub(r"\D", "", raw)
    if re.search(r"[^\d\s+\-().xX*#]", raw) or not digits:
        return None
    if raw.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    else:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
        national = metadata.national_prefix if metadata else None
        if not national or not digits.startswith(national):
            return None
        digits = str(phonenumbers.country_code_for_region(region.upper())) + digits[len(national):]
    # Shorter than 6 digits would cover a whole city or country; E.164 has at most 15 digits.
    if not 6 <= len(digits) <= 15:
        return None
    return "+" + digits


# ---------------------------------------------------------------------------------------------
# Rows


def employee_id(email: str) -> uuid.UUID:
    return derive_event_id("employee", email)


def client_id(external_id: str) -> uuid.UUID:
    return derive_event_id("client", external_id)


@dataclass(frozen=True)
class EmployeeRow:
    line: int
    email: str
    name: str
    department: Department
    role: Role
    extension: str | None  # None: not given, the current value stays
    direct_number: str | None
    capacity: int | None

    @property
    def employee_id(self) -> uuid.UUID:
        return employee_id(self.email)


@dataclass(frozen=True)
class ClientRow:
    line: int
    external_id: str
    name: str
    segment: Segment
    tax_id: str | None
    owner_email: str | None
    phones: tuple[str, ...] = ()
    number_ranges: tuple[str, ...] = ()

    @property
    def client_id(self) -> uuid.UUID:
        return client_id(self.external_id)


@dataclass
class Parsed:
    """One data row: the row model if it can be loaded, and what was wrong with it."""

    line: int
    row: EmployeeRow | ClientRow | None
    issues: list[Issue] = field(default_factory=list)


class _Cells:
    """The cells of one row by field, with the file's column names for the messages."""

    def __init__(self, header: Header, raw: RawRow) -> None:
        self.header = header
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


def _check_width(header: Header, raw: RawRow, delimiter: str) -> Issue | None:
    """A row wider than the header has a cell that lost its quoting (`+7 916 ..., +7 495 ...`
    unquoted in a comma file): its values would shift into the wrong columns, so it is
    rejected. A shorter row (trailing empty cells left out) reads as empty cells."""
    if len(raw.cells) > len(header.names):
        shown = "TAB" if delimiter == "\t" else delimiter
        return Issue(raw.line, None,
                     f"{len(raw.cells)} cells but the header has {len(header.names)}: "
                     f"a cell containing '{shown}' must be in double quotes")
    return None


class _RowParser:
    """What both parsers do first with a data row: refuse one wider than the header."""

    def __init__(self, header: Header, region: str = "RU", delimiter: str = ",") -> None:
        self.header, self.region, self.delimiter = header, region, delimiter

    def _begin(self, raw: RawRow) -> tuple[Parsed, _Cells | None]:
        """The row's result, and its cells (None when the row is refused already)."""
        result = Parsed(raw.line, None)
        if width := _check_width(self.header, raw, self.delimiter):
            result.issues.append(width)
            return result, None
        return result, _Cells(self.header, raw)


class EmployeeParser(_RowParser):
    """Turns data rows of an employees file into EmployeeRow; remembers the file's keys so a
    second row with the same e-mail, extension or direct number is reported, not loaded."""

    def __init__(self, header: Header, region: str = "RU", delimiter: str = ",") -> None:
        super().__init__(header, region, delimiter)
        self._emails: dict[str, int] = {}
        self._extensions: dict[str, int] = {}
        self._directs: dict[str, int] = {}

    def parse(self, raw: RawRow) -> Parsed:
        result, cells = self._begin(raw)
        if cells is None:
            return result
        problems = result.issues

        def reject(column: str, reason: str) -> None:
            problems.append(Issue(raw.line, column, reason))

        column, text = cells.one("email")
        email = normalise_email(text)
        if not text:
            reject(column, "e-mail is empty")
        elif email is None:
            reject(column, f"{text!r} is not an e-mail address")
        elif email in self._emails:
            reject(column, f"{email} is already on line {self._emails[email]}")

        column, name = cells.one("name")
        if not name:
            reject(column, "name is empty")

        column, text = cells.one("department")
        department = DEPARTMENTS.get(_value_key(text))
        if department is None:
            reject(column, f"department {text!r} is not client or commercial"
                   if text else "department is empty")

        column, text = cells.one("role")
        role = ROLES.get(_value_key(text))
        if role is None:
            reject(column, f"role {text!r} is not agent or head" if text else "role is empty")

        column, text = cells.one("extension")
        extension = re.sub(r"^(доб|ext)\.?\s*", "", text, flags=re.IGNORECASE).replace(" ", "")
        extension = extension or None
        if extension is not None:
            if not _EXTENSION.match(extension):
                reject(column, f"extension {text!r} is not 2 to 6 digits")
            elif extension in self._extensions:
                reject(column, f"extension {extension} is already on line "
                               f"{self._extensions[extension]}")

        column, text = cells.one("direct_number")
        direct = None
        if text:
            number = normalise(text, self.region)
            direct = number.value
            if number.status is not CallerStatus.EXTERNAL:
                reject(column, f"{text!r} is not a phone number")
            elif direct in self._directs:
                reject(column, f"{direct} is already on line {self._directs[direct]}")

        column, text = cells.one("capacity")
        capacity = None
        if text:
            try:
                capacity = int(text.replace(" ", ""))
            except ValueError:
                reject(column, f"capacity {text!r} is not a whole number")
            else:
                if capacity < 0:
                    reject(column, f"capacity {capacity} is negative")

        if problems:
            return result
        assert email and department and role
        self._emails[email] = raw.line
        if extension:
            self._extensions[extension] = raw.line
        if direct:
            self._directs[direct] = raw.line
        result.row = EmployeeRow(raw.line, email, name, Department(department), Role(role),
                                 extension, direct, capacity)
        return result


class ClientParser(_RowParser):
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

    def parse(self, raw: RawRow) -> Parsed:
        result, cells = self._begin(raw)
        if cells is None:
            return result
        rejected: list[Issue] = []
        skipped: list[Issue] = []

        column, external_id = cells.one("external_id")
        if not external_id:
            rejected.append(Issue(raw.line, column, "external id is empty"))
        elif external_id in self._ids:
            rejected.append(Issue(raw.line, column,
                                  f"{external_id} is already on line {self._ids[external_id]}"))

        column, name = cells.one("name")
        if not name:
            rejected.append(Issue(raw.line, column, "name is empty"))

        column, text = cells.one("segment")
        segment = SEGMENTS.get(_value_key(text))
        if segment is None:
            rejected.append(Issue(
                raw.line, column,
                f"segment {text!r} is not one of {', '.join(s.value for s in Segment)}"
                if text else "segment is empty"))

        _, tax_id = cells.one("tax_id")

        column, text = cells.one("owner_email")
        owner = normalise_email(text) if text else None
        if text and owner is None:
            skipped.append(Issue(raw.line, column,
                                 f"owner {text!r} is not an e-mail address; no owner set",
                                 rejected=False))

        phones: list[str] = []
        for column, text in cells.many("phones"):
            number = normalise(text, self.region)
            if number.status is not CallerStatus.EXTERNAL or number.value is None:
                skipped.append(Issue(raw.line, column, f"{text!r} is not a phone number; skipped",
                                     rejected=False))
            elif number.value in phones:
                continue
            elif number.value in self._phones:
                skipped.append(Issue(raw.line, column,
                                     f"{number.value} is already on line "
                                     f"{self._phones[number.value]}; skipped", rejected=False))
            else:
                phones.append(number.value)

        ranges: list[str] = []
        for column, text in cells.many("number_ranges"):
            prefix = normalise_prefix(text, self.region)
            if prefix is None:
                skipped.append(Issue(raw.line, column,
                                     f"{text!r} is not a number prefix like '+7 495 100-' "
                                     f"(6 to 15 digits); skipped", rejected=False))
            elif prefix in ranges:
                continue
            elif prefix in self._ranges:
                skipped.append(Issue(raw.line, column, f"{prefix} is already on line "
                                                       f"{self._ranges[prefix]}; skipped",
                                     rejected=False))
            else:
                ranges.append(prefix)

        if rejected:
            result.issues = rejected + skipped
            return result
        assert segment is not None
        self._ids[external_id] = raw.line
        for phone in phones:
            self._phones[phone] = raw.line
        for prefix in ranges:
            self._ranges[prefix] = raw.line
        result.issues = skipped
        result.row = ClientRow(raw.line, external_id, name, Segment(segment), tax_id or None,
                               owner, tuple(phones), tuple(ranges))
        return result


def parser_for(kind: Kind, header: Header, region: str = "RU",
               delimiter: str = ",") -> EmployeeParser | ClientParser:
    cls = EmployeeParser if kind is Kind.EMPLOYEES else ClientParser
    return cls(header, region, delimiter)


def parse_text(text: str, kind: Kind, columns: str | None = None, delimiter: str | None = None,
               region: str = "RU") -> tuple[CsvSource, list[Parsed]]:
    """The whole file at once (for tests and small files)."""
    source = CsvSource(text, kind, parse_column_mapping(columns, kind), delimiter)
    parser = parser_for(kind, source.header, region, source.delimiter)
    parsed = [Parsed(item.line, None, [item]) if isinstance(item, Issue) else parser.parse(item)
              for item in source]
    return source, parsed
