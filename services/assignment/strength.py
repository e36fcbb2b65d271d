"""How the available negotiators rank for a lead: pure functions, no I/O. Each one's chance
to close the lead's kind is `shared.chances` (the estimate the desk shows too); the ranking
is by expected value, chance x deal value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from shared.chances import UNKNOWN, DepartmentRecord, Record, chance, department_average


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

