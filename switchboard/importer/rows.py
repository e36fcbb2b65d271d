"""The rows an import loads: employees and clients, as the parsers make them and the
repository writes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from shared.events import Department, Role, Segment, stable_id
from switchboard.importer.problems import Issue

DEFAULT_CAPACITY = 10  # the schema's default: leads an employee works at once


class FileKind(StrEnum):
    EMPLOYEES = "employees"
    CLIENTS = "clients"


def employee_id(email: str) -> uuid.UUID:
    return stable_id("employee", email)


def client_id(external_id: str) -> uuid.UUID:
    return stable_id("client", external_id)


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
