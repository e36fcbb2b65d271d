"""The routing rules file: what the business may change without a redeploy.

The file is YAML (deploy/rules.yaml is the default and documents the format). It is parsed
and validated here, without I/O, so the router, the replay command and the tests read it the
same way. A broken file is refused with the line and the field of every problem.

The rules version is the start of the SHA-256 of the file's bytes: every decision records it,
so a decision can always be traced to the exact file it was made under.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      ValidationError, ValidationInfo, field_validator)

from shared.events import Department, Destination, Segment
from shared.phones import EXTENSION_PATTERN

VERSION_LENGTH = 12
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_TITLES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


# --- problems -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rules file: where (line, field) and what."""

    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"line {self.line}" if self.line else None,
                                       self.field) if p)
        return f"{where}: {self.message}" if where else self.message


class RulesError(ValueError):
    """A rules file that cannot be used. `problems` says where and what, one per problem."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(f"rules file {source} refused: {listed}")


# --- the file's schema --------------------------------------------------------------------


@dataclass(frozen=True)
class TimeRange:
    start: time
    end: time | None  # None: until midnight ("24:00")

    def contains(self, moment: time) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{'24:00' if self.end is None else f'{self.end:%H:%M}'}"


def _time_ranges(value: Any) -> list[TimeRange]:
    """"09:00-18:00", "09:00-13:00, 14:00-18:00", a list of such strings, or off."""
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "")):
        return []  # a day off (YAML reads a bare `off` as false)
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise ValueError('expected working hours as text in quotes, e.g. "09:00-18:00"')
    ranges = []
    for item in value:
        match = _RANGE.match(item) if isinstance(item, str) else None
        if not match:
            raise ValueError(f'{item!r} is not a time range like "09:00-18:00"')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"{item!r} is not a time of day")
        start, end = time(h1, m1), (None if h2 == 24 else time(h2, m2))
        if end is not None and end <= start:
            raise ValueError(f"{item!r} ends before it starts (shifts over midnight: "
                             f"write two ranges on the two days)")
        ranges.append(TimeRange(start, end))
    return sorted(ranges, key=lambda r: r.start)


def _days(spec: str) -> list[int]:
    """"mon", "mon-fri", "sat,sun" -> weekday numbers (Monday is 0)."""
    days: list[int] = []
    for part in str(spec).lower().split(","):
        ends = [p.strip() for p in part.split("-")]
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise ValueError(f"{spec!r}: days are {', '.join(DAYS)}, or a range like mon-fri")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        if last < first:
            raise ValueError(f"{spec!r}: the range runs backwards")
        days.extend(range(first, last + 1))
    return days


def _day_spec(spec: str) -> str:
    _days(spec)
    return spec


DaySpec = Annotated[str, AfterValidator(_day_spec)]


class DepartmentRules(BaseModel):
    """When a department works, in its own time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str = Field(description="IANA time zone, e.g. Europe/Moscow.")
    hours: dict[DaySpec, Annotated[list[TimeRange], BeforeValidator(_time_ranges)]] = Field(
        description='Day or days -> working hours: {"mon-fri": "09:00-18:00"}. Days not '
        "listed are days off."
    )
    closed: list[date] = Field(default_factory=list,
                               description="Holidays: dates in the department's time zone.")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (e.g. Europe/Moscow)") from None
        return value

    def week(self) -> dict[int, list[TimeRange]]:
        week: dict[int, list[TimeRange]] = {d: [] for d in range(7)}
        for spec, ranges in self.hours.items():
            for day in _days(spec):
                week[day] = sorted(week[day] + ranges, key=lambda r: r.start)
        return week


def _not_a_flag(value: Any) -> Any:
    if isinstance(value, bool):  # YAML's `yes` / `true`: pydantic would take it for 1
        raise ValueError("expected an amount")
    return value


Amount = Annotated[Decimal, BeforeValidator(_not_a_flag), Field(gt=0)]


class Thresholds(BaseModel):
    """Deal sizes in one currency: small below `medium`, large from `large`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    medium: Amount = Field(description="A deal is medium from this value.")
    large: Amount = Field(description="A deal is large from this value.")

    @field_validator("large")
    @classmethod
    def _above_medium(cls, large: Decimal, info: ValidationInfo) -> Decimal:
        medium = info.data.get("medium")
        if medium is not None and large <= medium:
            raise ValueError(f"large ({large}) must be above medium ({medium})")
        return large


RingDestination = Literal["client_department", "commercial_department"]
CommercialDestination = Literal["by_deal_size", "client_department", "commercial_department"]


class SegmentRule(BaseModel):
    """Where callers of one client segment go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ring: RingDestination = Field(
        default="client_department",
        description="When the phone rings and the client has no owner.",
    )
    commercial: CommercialDestination = Field(
        default="by_deal_size",
        description="A commercial call after qualification: by the deal-size thresholds, or "
        "always to one department.",
    )


class Desk(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="How people call this desk.")
    extension: str | None = Field(
        default=None, pattern=EXTENSION_PATTERN,
        description="The desk's internal extension: what a PBX dials for a call routed here.")
    number: str | None = Field(
        default=None, pattern=r"^\+[1-9]\d{5,14}$",
        description="The desk's number in E.164 (+74951000000), for PBXs that dial numbers.")


class Desks(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_department: Desk
    commercial_department: Desk


class RulesFile(BaseModel):
    """The rules file as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    desks: Desks
    departments: dict[Department, DepartmentRules]
    deal_size: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Thresholds] = Field(
        description="ISO 4217 currency -> thresholds."
    )
    segments: dict[Segment, SegmentRule] = Field(default_factory=dict)

    @field_validator("departments")
    @classmethod
    def _every_department(cls, value: dict[Department, DepartmentRules]
                          ) -> dict[Department, DepartmentRules]:
        missing = [d.value for d in Department if d not in value]
        if missing:
            raise ValueError(f"working hours missing for: {', '.join(missing)}")
        return value


# --- the rules in use ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """A validated rules file and its version: what the policy decides by."""

    version: str
    file: RulesFile
    source: str = "rules"

    @cached_property
    def _weeks(self) -> dict[Department, dict[int, list[TimeRange]]]:
        return {department: rules.week() for department, rules in self.file.departments.items()}

    def local_time(self, department: Department, now: datetime) -> datetime:
        return now.astimezone(ZoneInfo(self.file.departments[department].time_zone))

    def on_shift(self, department: Department, now: datetime) -> bool:
        """Whether `now` is within the department's working hours (and not a holiday)."""
        local = self.local_time(department, now)
        if local.date() in self.file.departments[department].closed:
            return False
        moment = local.time().replace(tzinfo=None)
        return any(r.contains(moment) for r in self._weeks[department][local.weekday()])

    def hours_text(self, department: Department) -> str:
        """ "Mon–Fri 09:00–18:00, Sat 10:00–15:00, Europe/Moscow time" """
        week = self._weeks[department]
        parts, day = [], 0
        while day < 7:
            last = day
            while last + 1 < 7 and week[last + 1] == week[day]:
                last += 1
            if week[day]:
                days = DAY_TITLES[day] if last == day else f"{DAY_TITLES[day]}–{DAY_TITLES[last]}"
                parts.append(f"{days} {', '.join(str(r) for r in week[day])}")
            day = last + 1
        zone = self.file.departments[department].time_zone
        return f"{', '.join(parts) or 'never'}, {zone} time"

    def thresholds(self, currency: str | None) -> Thresholds | None:
        return self.file.deal_size.get(currency) if currency else None

    def segment(self, segment: Segment | None) -> SegmentRule:
        return self.file.segments.get(segment, SegmentRule()) if segment else SegmentRule()

    def has_segment_rule(self, segment: Segment | None) -> bool:
        return segment is not None and segment in self.file.segments

    def desk(self, destination: Destination) -> str:
        return self.desk_line(destination).name

    def desk_line(self, destination: Destination) -> Desk:
        """The desk that takes a call routed to `destination` when no one person is named."""
        if destination is Destination.COMMERCIAL_DEPARTMENT:
            return self.file.desks.commercial_department
        return self.file.desks.client_department


def rules_version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:VERSION_LENGTH]


# --- parsing ------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text for pydantic to check (PyYAML
    raises a bare ValueError on 2026-12-32)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_rules(data: bytes, source: str = "rules") -> Rules:
    """The rules in `data` (a YAML document), or RulesError naming line and field."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RulesError(source, [Problem(None, None, f"not UTF-8 text ({e.reason})")]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RulesError(source, [Problem(None, None, "the file is empty")])
        lines, duplicates = _lines(node)
        content = loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise RulesError(source, [Problem(mark.line + 1 if mark else None, None,
                                          f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    if duplicates:
        raise RulesError(source, [Problem(line, ".".join(path), "this key appears twice")
                                  for path, line in duplicates])
    if not isinstance(content, dict):
        raise RulesError(source, [Problem(node.start_mark.line + 1, None,
                                          "expected a mapping (desks:, departments:, ...)")])
    try:
        rules_file = RulesFile.model_validate(content)
    except ValidationError as e:
        raise RulesError(source, _problems(e, lines)) from None
    return Rules(rules_version(data), rules_file, source)


def load_rules(path: Path) -> Rules:
    """Reads and parses a rules file (RulesError when missing, unreadable or broken)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RulesError(str(path), [Problem(None, None, f"cannot read it: {e.strerror}")]
                         ) from None
    return parse_rules(data, str(path))


KeyPath = tuple[str, ...]  # the keys from the document's root: ("deal_size", "RUB", "large")


def _lines(node: yaml.Node) -> tuple[dict[KeyPath, int], list[tuple[KeyPath, int]]]:
    """Line (1-based) of every key and item in the document, by its path; and the keys that
    appear twice in one mapping (YAML would silently keep the last)."""
    lines: dict[KeyPath, int] = {(): node.start_mark.line + 1}
    duplicates: list[tuple[KeyPath, int]] = []

    def walk(current: yaml.Node, path: KeyPath) -> None:
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                child = (*path, str(key.value))
                if child in lines:
                    duplicates.append((child, key.start_mark.line + 1))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                child = (*path, str(index))
                lines[child] = item.start_mark.line + 1
                walk(item, child)

    walk(node, ())
    return lines, duplicates


def _problems(error: ValidationError, lines: dict[KeyPath, int]) -> list[Problem]:
    problems, seen = [], set()
    for detail in error.errors():
        is_key = "[key]" in detail["loc"]
        loc = tuple(str(part) for part in detail["loc"] if part != "[key]")
        # The longest part of the path that is in the file (a missing field is reported at
        # the mapping that lacks it; union members add names that are not in the file).
        known = next(loc[:n] for n in range(len(loc), -1, -1) if loc[:n] in lines)
        if detail["type"] == "missing":
            known = loc[:-1] if loc[:-1] in lines else known
        where = ".".join(loc[:len(known)] if detail["type"] != "missing" else loc) or None
        if (where, is_key) in seen:
            continue  # one problem per field is enough (a union reports each member)
        seen.add((where, is_key))
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "not a known setting here (misspelt?)"
        problems.append(Problem(lines[known], where, message))
    return problems
