"""Property: every call gets exactly one destination, at least one reason, the rules version
and the rules that fired, and never goes to a salesperson other than its owner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.policy import qualify, route
from shared.events import (CallEnriched, CallerStatus, CallQualified, Category, ClientRef,
                           CompanySize, Department, Destination, EmployeeRef, Ownership, Segment,
                           ShoppingRule)
from tests.unit.router.factories import rules

RULES = rules()
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                       timezones=st.just(UTC))
employees = st.builds(EmployeeRef, employee_id=st.uuids(), name=st.text(min_size=1, max_size=20),
                      department=st.sampled_from(Department),
                      role=st.sampled_from(["agent", "head"]), active=st.booleans(),
                      on_leave=st.booleans())
clients = st.builds(ClientRef, client_id=st.uuids(), name=st.text(min_size=1, max_size=20),
                    segment=st.sampled_from(Segment))


@st.composite
def enriched_calls(draw) -> CallEnriched:
    status = draw(st.sampled_from(CallerStatus))
    client = draw(st.none() | clients) if status is CallerStatus.EXTERNAL else None
    ownership = draw(st.none() | st.builds(Ownership, owner=employees, since=moments,
                                           last_activity_at=moments)) if client else None
    shopping = draw(st.lists(st.sampled_from(ShoppingRule), unique=True))
    at = draw(moments)
    return CallEnriched(
        event_id=uuid.uuid4(), occurred_at=at, call_id="pbx:1", pbx="pbx",
        caller="+79161234567" if status is CallerStatus.EXTERNAL else None, caller_raw="x",
        caller_status=status, dialed="100", started_at=at, client=client, ownership=ownership,
        owner_head=draw(st.none() | employees) if ownership else None,
        shopping_around=bool(shopping), shopping_rules=shopping)


qualified_calls = st.builds(
    CallQualified, event_id=st.uuids(), occurred_at=moments, call_id=st.just("pbx:1"),
    category=st.sampled_from(Category),
    deal_value=st.none() | st.decimals(min_value=0, max_value=Decimal("1e9"), places=2),
    currency=st.none() | st.sampled_from(["RUB", "USD", "EUR", "GBP"]),
    company_size=st.none() | st.sampled_from(CompanySize), corporate=st.booleans(),
    operator_id=st.uuids(), segment=st.none() | st.sampled_from(Segment))


@settings(max_examples=400)
@given(enriched_calls(), moments)
def test_every_ringing_call_gets_one_destination_and_a_reason(call, now):
    decision = route(call, RULES, now)
    assert decision.destination in Destination and decision.destination \
        is not Destination.NON_COMMERCIAL
    assert decision.reasons and all(r.strip() for r in decision.reasons)
    assert decision.rule_ids and decision.rules_version == RULES.version
    assert decision.shopping_around == call.shopping_around
    # never silently to another salesperson: the owner, the head of their department, or a desk
    allowed = {None}
    if call.ownership:
        allowed |= {call.ownership.owner.employee_id}
        if call.owner_head:
            allowed.add(call.owner_head.employee_id)
    assert decision.employee_id in allowed
    if decision.destination is Destination.OWNER:
        assert decision.employee_id is not None
        if decision.employee_id != call.ownership.owner.employee_id:  # the head covers
            assert "ring.head_of_department" in decision.rule_ids


@settings(max_examples=400)
@given(qualified_calls, moments)
def test_every_qualified_call_gets_one_destination_and_a_reason(call, now):
    decision = qualify(call, RULES, now)
    assert decision.destination in Destination and decision.destination \
        is not Destination.OWNER
    assert decision.reasons and decision.rule_ids
    assert decision.employee_id in {None, call.operator_id}
    assert (decision.destination is Destination.NON_COMMERCIAL) == (
        call.category is not Category.COMMERCIAL)
