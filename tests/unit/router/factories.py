"""Calls and rules for the router's unit tests."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

from services.router.rules import Rules, parse_rules
from shared.events import (CallEnriched, CallerStatus, CallQualified, Category, ClientRef,
                           CompanySize, Department, EmployeeRef, Ownership, Segment, ShoppingRule)

DEFAULT_RULES_FILE = Path(__file__).resolve().parents[3] / "deploy" / "rules.yaml"

# Friday 2026-11-27: 13:00 in Moscow (on shift), and 21:00 (off shift).
ON_SHIFT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
OFF_SHIFT = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
SATURDAY_NOON = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

RULES = {
    "desks": {"client_department": {"name": "client department desk"},
              "commercial_department": {"name": "head of sales' inbox"}},
    "departments": {
        "client": {"time_zone": "Europe/Moscow",
                   "hours": {"mon-fri": "08:00-20:00", "sat": "10:00-16:00"}},
        "commercial": {"time_zone": "Europe/Moscow", "hours": {"mon-fri": "09:00-19:00"},
                       "closed": ["2026-12-31"]},
    },
    "deal_size": {"RUB": {"medium": 300_000, "large": 3_000_000},
                  "USD": {"medium": 3_500, "large": 35_000}},
    "segments": {"large_corporate": {"ring": "commercial_department",
                                     "commercial": "commercial_department"}},
}


def rules(**changes: object) -> Rules:
    """The test rules, with top-level sections replaced by `changes`."""
    content = copy.deepcopy(RULES)
    content.update(changes)
    return rules_from(content)


def rules_from(content: dict) -> Rules:
    data = yaml.safe_dump(content, sort_keys=False).encode()
    return parse_rules(data, "test-rules.yaml")


CLIENT = ClientRef(client_id=uuid.uuid4(), name="Romashka LLC", segment=Segment.CORPORATE)
GIANT = ClientRef(client_id=uuid.uuid4(), name="Gazprom", segment=Segment.LARGE_CORPORATE)
OWNER = EmployeeRef(employee_id=uuid.uuid4(), name="Anna Ivanova",
                    department=Department.COMMERCIAL)
HEAD = EmployeeRef(employee_id=uuid.uuid4(), name="Oleg Petrov",
                   department=Department.COMMERCIAL, role="head")
OPERATOR = uuid.uuid4()
SINCE = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)


def owned_by(owner: EmployeeRef = OWNER) -> Ownership:
    return Ownership(owner=owner, since=SINCE, last_activity_at=SINCE + timedelta(days=30))


def enriched(client: ClientRef | None = None, ownership: Ownership | None = None, *,
             head: EmployeeRef | None = None, status: CallerStatus = CallerStatus.EXTERNAL,
             shopping: list[ShoppingRule] | None = None, at: datetime = ON_SHIFT,
             call_id: str = "pbx:1") -> CallEnriched:
    return CallEnriched(
        event_id=uuid.uuid4(), occurred_at=at, call_id=call_id, pbx="pbx",
        caller="+79161234567" if status is CallerStatus.EXTERNAL else None,
        caller_raw="x", caller_status=status, dialed="+74951000000", started_at=at,
        client=client, ownership=ownership, owner_head=head,
        shopping_around=bool(shopping), shopping_rules=shopping or [],
    )


def qualified(category: Category = Category.COMMERCIAL, value: str | None = None,
              currency: str | None = "RUB", *, size: CompanySize | None = None,
              corporate: bool = False, segment: Segment | None = None,
              client: ClientRef | None = None, at: datetime = ON_SHIFT,
              call_id: str = "pbx:1") -> CallQualified:
    return CallQualified(
        event_id=uuid.uuid4(), occurred_at=at, call_id=call_id, category=category,
        deal_value=Decimal(value) if value is not None else None,
        currency=currency if value is not None else None, company_size=size,
        corporate=corporate, operator_id=OPERATOR, caller="+79161234567",
        client_id=client.client_id if client else None,
        client_name=client.name if client else None,
        segment=segment or (client.segment if client else None),
    )
