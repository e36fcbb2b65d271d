"""Who is expected to get which card: the desk's fan-out (services/desk/policy.py,
`on_operator_screen`) stated in the benchmark's own terms, so that a browser the desk leaves
out counts as missing rather than as not entitled.

A call's card is on a person's operator screen while the call rings at their own line, or at
the client department desk for those who open the operator's screen (operators, heads,
administrators). Every call of the benchmark rings at the desk: it dials the general line
from an unknown number or from a client without an owner whose segment rings the client
department (bench.desk.load), so every simulated operator is entitled to every card."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from shared.access.principals import AccessRole

# Who opens the operator's screen (services/desk/policy.py, `opens_operator_screen`).
OPERATOR_SCREEN_ROLES = frozenset({AccessRole.OPERATOR, AccessRole.HEAD, AccessRole.ADMIN})


@dataclass(frozen=True)
class Viewer:
    """The person behind one simulated browser's operator page."""

    employee_id: uuid.UUID
    roles: frozenset[AccessRole]

    @property
    def opens_operator_screen(self) -> bool:
        return bool(self.roles & OPERATOR_SCREEN_ROLES)


@dataclass(frozen=True)
class RingsAt:
    """Where a call rings: the client department desk, and/or one employee's line."""

    desk: bool
    employee_id: uuid.UUID | None = None


def entitled(viewer: Viewer, rings: RingsAt) -> bool:
    """Whether the call's card belongs on the viewer's operator page."""
    if not viewer.opens_operator_screen:
        return False
    return rings.desk or (rings.employee_id is not None
                          and rings.employee_id == viewer.employee_id)


def entitled_browsers(viewers: list[Viewer], rings: RingsAt) -> list[int]:
    """The indexes of the browsers that should get the card."""
    return [i for i, viewer in enumerate(viewers) if entitled(viewer, rings)]


def expected_events(viewers: list[Viewer], calls: Iterable[RingsAt]) -> int:
    """Card events expected in all: per call, the browsers entitled to it."""
    return sum(len(entitled_browsers(viewers, rings)) for rings in calls)
