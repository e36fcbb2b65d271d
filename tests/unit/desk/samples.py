"""Calls as the desk hears of them, for the desk's unit tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.access.principals import person
from shared.events import (CallEnriched, CallLifecycle, CallQualified, CallRouted, Category,
                           ClientRef, ContactRef, Department, Destination, EmployeeRef, LeadRef,
                           LifecyclePhase, Ownership, Role, Segment, ShoppingRule, Stage)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
OPERATOR_ID = uuid.UUID("5b0e9d3c-2a7f-4c81-b6e4-9f3a1d7c0b25")
OWNER = EmployeeRef(employee_id=uuid.UUID("8d5e2a71-0c3f-4e9b-a6d4-1b7c9e2f5a80"),
                    name="Anna Ivanova", department=Department.COMMERCIAL)
OTHER = EmployeeRef(employee_id=uuid.uuid4(), name="Boris Petrov",
                    department=Department.COMMERCIAL)
CLIENT = ClientRef(client_id=uuid.UUID("3f2b8c1e-6d4a-4b7e-9c12-5a8e0f1d2c3b"),
                   name="Romashka LLC", segment=Segment.CORPORATE)


def operator(locale: str = "ru", employee_id: uuid.UUID = OPERATOR_ID):
    return person(employee_id, "olga@example.com", "Olga", Department.CLIENT, Role.AGENT,
                  locale=locale)


def negotiator():
    return person(uuid.uuid4(), "nik@example.com", "Nik", Department.COMMERCIAL, Role.AGENT)


def head(department: Department = Department.COMMERCIAL):
    return person(uuid.uuid4(), "head@example.com", "Head", department, Role.HEAD)


def enriched(call_id: str = "office-1:a1", *, known: bool = True, dialed: EmployeeRef | None
             = None, shopping: bool = False, started: datetime = NOW) -> CallEnriched:
    return CallEnriched(
        event_id=uuid.uuid4(), occurred_at=started, call_id=call_id, pbx="office-1",
        caller="+79161234567", caller_raw="89161234567", caller_status="external",
        dialed="+74951000000", started_at=started,
        client=CLIENT if known else None,
        ownership=Ownership(owner=OWNER, since=NOW - timedelta(days=60),
                            last_activity_at=NOW - timedelta(days=1)) if known else None,
        dialed_employee=dialed,
        shopping_around=shopping,
        shopping_rules=[ShoppingRule.OTHER_THAN_OWNER, ShoppingRule.MANY_EMPLOYEES]
        if shopping else [],
        open_leads=[LeadRef(lead_id=uuid.uuid4(), employee_id=OWNER.employee_id,
                            department=Department.COMMERCIAL,
                            created_at=NOW - timedelta(days=3))] if known else [],
        recent_contacts=[ContactRef(call_id="office-1:a0", occurred_at=NOW - timedelta(days=2),
                                    employee=OTHER),
                         ContactRef(call_id="office-1:9f", occurred_at=NOW - timedelta(days=5))]
        if known else [],
    )


def routed(call_id: str = "office-1:a1", destination: Destination = Destination.CLIENT_DEPARTMENT,
           *, employee: EmployeeRef | None = None, rule_ids: list[str] | None = None,
           stage: Stage = Stage.RING) -> CallRouted:
    return CallRouted(
        event_id=uuid.uuid4(), occurred_at=NOW, call_id=call_id, caller="+79161234567",
        client_id=None, destination=destination,
        employee_id=employee.employee_id if employee else None,
        employee_name=employee.name if employee else None,
        reasons=["because"], rule_ids=rule_ids or [], stage=stage)


def lifecycle(call_id: str = "office-1:a1", phase: LifecyclePhase = LifecyclePhase.HUNG_UP,
              at: datetime = NOW) -> CallLifecycle:
    return CallLifecycle(event_id=uuid.uuid4(), occurred_at=at, call_id=call_id,
                         pbx="office-1", phase=phase, dialect="asterisk")


def qualified(call_id: str = "office-1:a1") -> CallQualified:
    return CallQualified(event_id=uuid.uuid4(), occurred_at=NOW, call_id=call_id,
                         category=Category.SPAM, operator_id=OPERATOR_ID)
