"""How likely a negotiator is to close a kind of lead: the one estimate the assignment ranks
negotiators by and the desk shows the head of sales. Pure functions, no I/O.

The estimate is the mean of a Beta posterior. A negotiator's won and lost leads of the kind
(segment and size class) are added to a prior worth `strength` outcomes centred on the
department's average for the kind, which is itself shrunk towards the department's average
over all kinds. So three wins of three count for little, forty of fifty for a lot, and a
newcomer starts at the department's average.
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN = "unknown"  # a lead that did not say its segment or size class


@dataclass(frozen=True)
class Record:
    """Won and lost leads (of one person or of a department, on one kind or on all)."""

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


def overall_average(overall: Record) -> float:
    """The department's chance to close any lead: its record over all kinds with one won and
    one lost added, so an empty department starts at one half."""
    return (overall.won + 1) / (overall.closed + 2)


def department_average(department: DepartmentRecord, strength: float) -> float:
    """The department's chance to close this kind of lead: its record on the kind, shrunk
    towards its average over all kinds with the weight of `strength` outcomes."""
    everything = overall_average(department.overall)
    return (department.kind.won + strength * everything) / (department.kind.closed + strength)


def posterior(record: Record, prior_mean: float, strength: float) -> tuple[float, float]:
    """A negotiator's Beta(strength x prior_mean, strength x (1 - prior_mean)) updated with
    their won and lost leads: its two parameters (wins and losses, the prior included)."""
    return record.won + strength * prior_mean, record.lost + strength * (1 - prior_mean)


def chance(record: Record, prior_mean: float, strength: float) -> float:
    """A negotiator's chance to close: the mean of their `posterior`."""
    return (record.won + strength * prior_mean) / (record.closed + strength)
