"""The department policy, case by case: where a call goes and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.router.policy import qualify, route
from shared.events import (CallerStatus, Category, CompanySize, Department, Destination,
                           EmployeeRef, Segment, ShoppingRule, SizeClass, Stage, derive_event_id)
from tests.unit.router.factories import (CLIENT, GIANT, HEAD, OFF_SHIFT, ON_SHIFT, OPERATOR,
                                         OWNER, SATURDAY_NOON, enriched, owned_by, qualified,
                                         rules)

RULES = rules()

# --- ring time: owned clients --------------------------------------------------------------


def test_owned_client_goes_to_the_owner_on_shift_with_a_reason():
    decision = route(enriched(CLIENT, owned_by(), head=HEAD), RULES, ON_SHIFT)
    assert decision.destination is Destination.OWNER
    assert (decision.employee_id, decision.employee_name) == (OWNER.employee_id, OWNER.name)
    assert decision.reasons == [
        "Romashka LLC is owned by Anna Ivanova since 2026-10-02; Anna Ivanova is on shift "
        "(the commercial department works Mon–Fri 09:00–19:00, Europe/Moscow time)"]
    assert decision.rule_ids == ["ring.owner", "departments.commercial.hours"]
    assert decision.rules_version == RULES.version
    assert decision.stage is Stage.RING


def test_owner_off_shift_goes_to_the_head_of_their_department_not_another_salesperson():
    decision = route(enriched(CLIENT, owned_by(), head=HEAD), RULES, OFF_SHIFT)
    # still the owner's call: the head covers, and the lead will be the head's
    assert decision.destination is Destination.OWNER
    assert (decision.employee_id, decision.employee_name) == (HEAD.employee_id, HEAD.name)
    [reason] = decision.reasons
    assert reason.startswith("Romashka LLC is owned by Anna Ivanova since 2026-10-02, but "
                             "Anna Ivanova is off shift (it is Fri 2026-11-27 21:00 there; ")
    assert reason.endswith("the call goes to Oleg Petrov, head of the commercial department, "
                           "not to another salesperson")
    assert decision.rule_ids == ["ring.owner", "departments.commercial.hours",
                                 "ring.owner_unavailable", "ring.head_of_department"]


@pytest.mark.parametrize("moment", [SATURDAY_NOON,  # a day not listed
                                    datetime(2026, 12, 31, 10, tzinfo=UTC),  # closed
                                    datetime(2026, 11, 27, 5, 59, tzinfo=UTC),  # 08:59 MSK
                                    datetime(2026, 11, 27, 16, 0, tzinfo=UTC)])  # 19:00 MSK
def test_off_shift_by_days_holidays_and_the_ends_of_the_day(moment):
    decision = route(enriched(CLIENT, owned_by(), head=HEAD), RULES, moment)
    assert decision.employee_id == HEAD.employee_id
    assert "off shift" in decision.reasons[0]


def test_the_shift_starts_on_the_minute():
    at_nine = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 09:00 in Moscow
    assert route(enriched(CLIENT, owned_by()), RULES, at_nine).destination is Destination.OWNER


@pytest.mark.parametrize("owner, why", [
    (OWNER.model_copy(update={"on_leave": True}), "Anna Ivanova is on leave"),
    (OWNER.model_copy(update={"active": False}), "Anna Ivanova no longer works here"),
])
def test_owner_on_leave_or_gone_goes_to_the_head_even_on_shift(owner, why):
    decision = route(enriched(CLIENT, owned_by(owner), head=HEAD), RULES, ON_SHIFT)
    assert decision.destination is Destination.OWNER
    assert decision.employee_id == HEAD.employee_id
    assert f"but {why}: the call goes to Oleg Petrov" in decision.reasons[0]
    assert decision.rule_ids == ["ring.owner", "ring.owner_unavailable",
                                 "ring.head_of_department"]


def test_client_department_owner_unavailable_goes_to_that_departments_head():
    owner = EmployeeRef(employee_id=OWNER.employee_id, name="Ivan Sidorov",
                        department=Department.CLIENT, on_leave=True)
    head = EmployeeRef(employee_id=HEAD.employee_id, name="Maria Orlova",
                       department=Department.CLIENT, role="head")
    decision = route(enriched(CLIENT, owned_by(owner), head=head), RULES, ON_SHIFT)
    assert decision.destination is Destination.OWNER
    assert decision.employee_id == head.employee_id
    assert "head of the client department" in decision.reasons[0]


def test_client_department_hours_apply_to_its_owners():
    owner = OWNER.model_copy(update={"department": Department.CLIENT})
    # Saturday noon: the client department works, the commercial department does not.
    decision = route(enriched(CLIENT, owned_by(owner)), RULES, SATURDAY_NOON)
    assert decision.destination is Destination.OWNER
    assert decision.rule_ids == ["ring.owner", "departments.client.hours"]


@pytest.mark.parametrize("head, why", [
    (None, "no head of the commercial department is known"),
    (HEAD.model_copy(update={"on_leave": True}), "the head, Oleg Petrov, is on leave too"),
    (HEAD.model_copy(update={"active": False}), "the head, Oleg Petrov, no longer works here"),
])
def test_without_a_head_who_can_take_it_the_department_desk_takes_it_and_says_so(head, why):
    decision = route(enriched(CLIENT, owned_by(), head=head), RULES, OFF_SHIFT)
    # the commercial department's desk is the head of sales' inbox
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    assert decision.employee_id is None
    assert f"and {why}: the head of sales' inbox takes the call" in decision.reasons[0]
    assert decision.rule_ids[-1] == "ring.department_desk"


def test_a_client_department_owner_without_head_leaves_the_call_to_that_desk():
    owner = OWNER.model_copy(update={"department": Department.CLIENT, "active": False,
                                     "name": "Ivan Sidorov"})
    decision = route(enriched(CLIENT, owned_by(owner)), RULES, ON_SHIFT)
    assert (decision.destination, decision.employee_id) == (Destination.CLIENT_DEPARTMENT, None)
    assert decision.reasons[0].endswith(
        "Ivan Sidorov no longer works here, and no head of the client department is known: "
        "the client department desk takes the call")


def test_an_unavailable_head_who_owns_the_client_does_not_get_it_back():
    head_owner = HEAD.model_copy(update={"on_leave": True})
    decision = route(enriched(CLIENT, owned_by(head_owner), head=head_owner), RULES, ON_SHIFT)
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    assert decision.employee_id is None
    assert "Oleg Petrov is the head of the commercial department" in decision.reasons[0]


# --- ring time: everybody else -------------------------------------------------------------


def test_large_corporate_client_without_owner_goes_to_the_commercial_department():
    decision = route(enriched(GIANT), RULES, ON_SHIFT)
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    assert decision.employee_id is None and decision.segment is Segment.LARGE_CORPORATE
    assert decision.reasons == ["Gazprom is a large corporate client without an owner: "
                                "the head of sales' inbox takes the call"]
    assert decision.rule_ids == ["segments.large_corporate.ring"]


def test_owned_large_corporate_client_still_goes_to_the_owner():
    assert route(enriched(GIANT, owned_by()), RULES, ON_SHIFT).destination is Destination.OWNER


def test_known_client_without_owner_goes_to_the_desk():
    decision = route(enriched(CLIENT), RULES, ON_SHIFT)
    assert decision.destination is Destination.CLIENT_DEPARTMENT
    assert decision.client_id == CLIENT.client_id and decision.employee_id is None
    assert decision.reasons == ["Romashka LLC is a known client without a current owner; "
                                "the client department desk takes the call"]
    assert decision.rule_ids == ["ring.desk"]


def test_segment_rules_come_from_the_file():
    corporate_to_sales = rules(segments={"corporate": {"ring": "commercial_department"}})
    decision = route(enriched(CLIENT), corporate_to_sales, ON_SHIFT)
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    # ...and without the large corporate rule, large corporate clients go to the desk
    assert route(enriched(GIANT), corporate_to_sales, ON_SHIFT).destination \
        is Destination.CLIENT_DEPARTMENT


@pytest.mark.parametrize("status", list(CallerStatus))
def test_unknown_and_withheld_callers_go_to_the_desk(status):
    decision = route(enriched(status=status), RULES, ON_SHIFT)
    assert decision.destination is Destination.CLIENT_DEPARTMENT
    assert decision.client_id is None and decision.employee_id is None
    assert decision.reasons[0].endswith("the client department desk takes the call")
    assert ("unknown caller: not in the client base" in decision.reasons[0]) == (
        status is CallerStatus.EXTERNAL)


def test_shopping_around_flag_travels_with_the_decision():
    decision = route(enriched(CLIENT, owned_by(), shopping=[ShoppingRule.OTHER_THAN_OWNER]),
                     RULES, ON_SHIFT)
    assert decision.shopping_around is True
    assert decision.destination is Destination.OWNER
    assert decision.reasons[1] == ("the client seems to be shopping around (other_than_owner): "
                                   "the owner and the head of sales are told")
    assert decision.rule_ids[-1] == "ring.shopping_around"
    assert route(enriched(CLIENT), RULES, ON_SHIFT).shopping_around is False


def test_decision_id_is_derived_from_the_input():
    call = enriched(CLIENT, owned_by())
    first, later = route(call, RULES, ON_SHIFT), route(call, RULES, OFF_SHIFT)
    assert first.event_id == later.event_id == derive_event_id(call.event_id, "routed")
    assert first.occurred_at == ON_SHIFT


# --- after qualification -------------------------------------------------------------------


@pytest.mark.parametrize("category", [Category.OPERATIONAL, Category.PERSONAL, Category.SPAM])
def test_non_commercial_calls_end_in_the_client_department_without_a_lead(category):
    decision = qualify(qualified(category, "10000000", client=GIANT), RULES, ON_SHIFT)
    assert decision.destination is Destination.NON_COMMERCIAL
    assert decision.employee_id is None
    assert decision.reasons == [f"the client department found the call {category.value}, "
                                f"not a sale: it ends in the client department, no lead"]
    assert decision.rule_ids == ["qualified.non_commercial"]
    assert decision.category is category and decision.operator_id == OPERATOR


@pytest.mark.parametrize("value, size", [("100000", SizeClass.SMALL),
                                         ("299999.99", SizeClass.SMALL),
                                         ("300000", SizeClass.MEDIUM),
                                         ("2999999", SizeClass.MEDIUM)])
def test_small_and_medium_deals_stay_with_the_operator(value, size):
    decision = qualify(qualified(value=value, client=CLIENT), RULES, ON_SHIFT)
    assert decision.destination is Destination.CLIENT_DEPARTMENT
    assert decision.employee_id == OPERATOR and decision.operator_id == OPERATOR
    assert decision.size_class is size
    assert decision.rule_ids == ["qualified.small_or_medium", "deal_size.RUB"]
    assert decision.reasons[0].endswith(
        "the client department negotiates it; the operator who qualified the call keeps "
        "the lead")


def test_a_qualified_decision_carries_the_verdict():
    call = qualified(value="1200000", client=CLIENT)
    decision = qualify(call, RULES, ON_SHIFT)
    assert decision.stage is Stage.QUALIFIED
    assert (decision.category, decision.deal_value, decision.currency, decision.segment) == (
        Category.COMMERCIAL, Decimal("1200000"), "RUB", Segment.CORPORATE)
    assert (decision.client_id, decision.client_name) == (CLIENT.client_id, CLIENT.name)
    assert decision.event_id == derive_event_id(call.event_id, "routed")
    assert decision.rules_version == RULES.version
    assert decision.reasons == [
        "commercial, medium deal: 1,200,000 RUB (medium from 300,000 RUB, large from "
        "3,000,000 RUB): the client department negotiates it; the operator who qualified "
        "the call keeps the lead"]


@pytest.mark.parametrize("value, currency", [("3000000", "RUB"), ("35000", "USD")])
def test_large_deals_go_to_the_head_of_sales(value, currency):
    decision = qualify(qualified(value=value, currency=currency, client=CLIENT), RULES,
                       ON_SHIFT)
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    assert decision.employee_id is None and decision.size_class is SizeClass.LARGE
    assert decision.rule_ids == ["qualified.large_deal", f"deal_size.{currency}"]
    assert decision.reasons[0].endswith("large deals go to the head of sales' inbox")


def test_thresholds_are_per_currency():
    # 40,000 is a small deal in roubles and a large one in dollars
    assert qualify(qualified(value="40000", currency="RUB"), RULES, ON_SHIFT).size_class \
        is SizeClass.SMALL
    assert qualify(qualified(value="40000", currency="USD"), RULES, ON_SHIFT).size_class \
        is SizeClass.LARGE


def test_a_large_company_goes_to_the_head_of_sales_whatever_the_deal():
    decision = qualify(qualified(value="50000", size=CompanySize.LARGE), RULES, ON_SHIFT)
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    assert decision.size_class is SizeClass.SMALL
    assert decision.rule_ids == ["qualified.large_company", "deal_size.RUB"]


@pytest.mark.parametrize("call", [
    qualified(value="1000", client=GIANT),  # large corporate in the client base
    qualified(value="1000", corporate=True, size=CompanySize.LARGE),  # the operator says so
    qualified(client=GIANT),  # no deal value at all
])
def test_any_large_corporate_client_goes_to_the_commercial_department(call):
    decision = qualify(call, RULES, ON_SHIFT)
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    assert decision.segment is Segment.LARGE_CORPORATE
    assert decision.rule_ids[0] == "segments.large_corporate.commercial"


def test_corporate_flag_alone_is_not_large_corporate():
    decision = qualify(qualified(value="1000", corporate=True, size=CompanySize.MEDIUM), RULES,
                       ON_SHIFT)
    assert decision.destination is Destination.CLIENT_DEPARTMENT


@pytest.mark.parametrize("value, currency, why", [
    (None, None, "no deal value estimated"),
    ("5000000", "GBP", "the rules have no deal sizes for GBP, so it cannot be sized"),
])
def test_a_deal_that_cannot_be_sized_stays_in_the_client_department_and_says_why(
        value, currency, why):
    decision = qualify(qualified(value=value, currency=currency), RULES, ON_SHIFT)
    assert decision.destination is Destination.CLIENT_DEPARTMENT
    assert decision.size_class is None and decision.employee_id == OPERATOR
    assert why in decision.reasons[0]
    assert decision.rule_ids == ["qualified.small_or_medium"]


def test_changed_thresholds_change_the_decision_and_the_version():
    call = qualified(value="2000000")
    lower = rules(deal_size={"RUB": {"medium": 200_000, "large": 1_000_000}})
    assert qualify(call, RULES, ON_SHIFT).destination is Destination.CLIENT_DEPARTMENT
    decision = qualify(call, lower, ON_SHIFT)
    assert decision.destination is Destination.COMMERCIAL_DEPARTMENT
    assert decision.rules_version == lower.version != RULES.version


def test_the_same_call_and_rules_give_the_same_decision():
    call = enriched(CLIENT, owned_by(), head=HEAD)
    assert route(call, RULES, OFF_SHIFT) == route(call, RULES, OFF_SHIFT)
    # only the clock passed in tells the time
    assert route(call, RULES, OFF_SHIFT - timedelta(hours=8)).destination is Destination.OWNER
