"""Which field each column of a CRM export feeds: the fields of each kind of file, the
headers CRMs use for them, and `--columns`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from switchboard.importer.problems import FileProblem
from switchboard.importer.rows import FileKind

EMPLOYEE_FIELDS = ("email", "name", "department", "role", "extension", "direct_number", "capacity")
CLIENT_FIELDS = ("external_id", "name", "segment", "phones", "owner_email", "tax_id",
                 "number_ranges")
FIELDS = {FileKind.EMPLOYEES: EMPLOYEE_FIELDS, FileKind.CLIENTS: CLIENT_FIELDS}
REQUIRED = {
    FileKind.EMPLOYEES: ("email", "name", "department", "role"),
    # Segment is required: it decides the department a call goes to, so no silent default.
    FileKind.CLIENTS: ("external_id", "name", "segment"),
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


def _builtin(kind: FileKind) -> dict[str, str]:
    table = _EMPLOYEE_HEADERS if kind is FileKind.EMPLOYEES else _CLIENT_HEADERS
    mapping = {header_key(f): f for f in FIELDS[kind]}
    for target, headers in table.items():
        mapping.update({header_key(h): target for h in headers})
    return mapping


BUILTIN_HEADERS = {kind: _builtin(kind) for kind in FileKind}


def parse_column_mapping(spec: str | None, kind: FileKind) -> dict[str, str]:
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


def resolve_header(cells: list[str], kind: FileKind, mapping: dict[str, str] | None = None) -> Header:
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
