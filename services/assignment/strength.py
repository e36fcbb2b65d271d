"""How likely each negotiator is to close a lead of a given kind, and how the available ones
rank: pure functions, no I/O.

The estimate is the mean of a Beta posterior. A negotiator's won and lost leads of this kind
(segment and size class) are added to a prior worth `strength` outcomes centred on the
department's average for the kind, which is itself shrunk towards the department's average
over all kinds. So three wins of three count for little, forty of fifty for a lot, and a
newcomer starts at the department's average.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

UNKNOWN = "unknown"  # a lead that did not say its segment or size class


@dataclass(frozen=True)
class LeadKind:
    """The kind of a lead, as far as closing it goes."""

    segment: str = UNKNOWN
    size_class: str = UNKNOWN

    @classmethod
    def of(cls, segment: object | None, size_class: object | None) -> LeadKind:
        return cls(str(segment) if segment else UNKNOWN,
                   str(size_class) if size_class else UNKNOWN)


@dataclass(frozen=True)
class Record:
    won: int = 0
    lost: int = 0

    @property
    def closed(self) -> int:
        return self.won + self.lost

    def __add__(self, other: Record) -> Record:
        return Record(self.won + other.won, self.lost + other.lost)


@dataclass(frozen=True)
class DepartmentRecord:
    """The outcomes of the department's active members: on this kind of lead, and on all."""

    kind: Record = Record()
    overall: Record = Record()


@dataclass(frozen=True)
class Negotiator:
    """An employee who can be given a lead, with their record on the lead's kind."""

    employee_id: uuid.UUID
    name: str
    load: int  # open leads they work on now
    capacity: int  # open leads they can work on at once
    active: bool = True
    on_leave: bool = False
    record: Record = field(default_factory=Record)
    email: str = ""

    @property
    def available(self) -> bool:
        """Working here, not on leave, and with room for one more lead."""
        return self.active and not self.on_leave and self.load < self.capacity

    @property
    def room(self) -> int:
        return self.capacity - self.load


@dataclass(frozen=True)
class Scored:
    negotiator: Negotiator
    chance: float  # estimated chance to close this kind of lead
    score: float  # expected value: chance x deal value (the chance when the value is unknown)


def department_average(department: DepartmentRecord, strength: float) -> float:
    """The department's chance to close this kind of lead: its record on the kind, shrunk
    towards its record over all kinds (itself with one won and one lost added, so an empty
    department starts at one half)."""
    overall = (department.overall.won + 1) / (department.overall.closed + 2)
    return (department.kind.won + strength * overall) / (department.kind.closed + strength)


def chance(record: Record, prior_mean: float, strength: float) -> float:
    """A negotiator's chance to close: Beta(strength x prior_mean, strength x (1 - prior_mean))
    updated with their won and lost leads of the kind; the posterior mean."""
    return (record.won + strength * prior_mean) / (record.closed + strength)


def expected_value(p: float, value: Decimal | float | None) -> float:
    """What giving the lead to someone is worth: chance x deal value. Without a value the
    chance alone ranks them (every candidate faces the same unknown value)."""
    return p * float(value) if value is not None else p


def rank(
    negotiators: Iterable[Negotiator],
    department: DepartmentRecord,
    value: Decimal | float | None,
    strength: float,
) -> list[Scored]:
    """The available negotiators, best first: the highest expected value; on a tie the least
    loaded, then by name. Nobody inactive, on leave or at capacity is ranked at all."""
    prior = department_average(department, strength)
    scored = []
    for n in negotiators:
        if not n.available:
            continue
        p = chance(n.record, prior, strength)
        scored.append(Scored(n, p, expected_value(p, value)))
    scored.sort(key=lambda s: (-s.score, s.negotiator.load, s.negotiator.name,
                               str(s.negotiator.employee_id)))
    return scored

