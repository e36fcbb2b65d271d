"""Which call goes on whose screen, what its card says, and the qualification form's verdict."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from services.desk.policy import (CardState, ClientRecord, DeskCall, DeskRules, Reason, Shift,
                                  card, card_shown, dom_id, heard, merged, new_client_id,
                                  on_operator_screen, opens_operator_screen, owner_shift,
                                  qualified_event, same_verdict, verdict_from_form,
                                  without_number)
from shared.events import (Category, CompanySize, Department, Destination, EmployeeRef,
                           LifecyclePhase, Stage)
from tests.unit.desk.samples import (NOW, OPERATOR_ID, OTHER, OWNER, enriched, head, lifecycle,
                                     negotiator, operator, qualified, routed)

RULES = DeskRules(card_lifetime=timedelta(minutes=30))
ME = EmployeeRef(employee_id=OPERATOR_ID, name="Olga", department=Department.CLIENT)


def call_of(*events) -> DeskCall:
    call = None
    for event in events:
        call = heard(call, event) or call
    assert call is not None
    return call


def sees(viewer, call) -> bool:
    return on_operator_screen(viewer, call, NOW, RULES)


# --- whose screen ---------------------------------------------------------------------------


def test_a_call_to_a_general_line_is_on_every_desk_screen_before_the_decision():
    call = call_of(enriched(known=False))
    assert sees(operator(), call) and sees(operator(employee_id=uuid.uuid4()), call)
    assert sees(head(), call) and sees(head(Department.CLIENT), call)
    assert not sees(negotiator(), call)


def test_a_call_to_an_operators_own_line_is_theirs_until_the_router_decides():
    call = call_of(enriched(known=False, dialed=ME))
    assert sees(operator(), call)
    assert not sees(operator(employee_id=uuid.uuid4()), call)
    call = call_of(enriched(known=False, dialed=ME), routed())  # the router: to the desk
    assert sees(operator(employee_id=uuid.uuid4()), call)


def test_the_decision_decides_a_call_routed_to_the_owner_leaves_the_desk():
    call = call_of(enriched(), routed(destination=Destination.OWNER, employee=OWNER))
    assert not sees(operator(), call) and not sees(head(), call)
    covering = head()
    call = call_of(enriched(), routed(destination=Destination.OWNER, employee=EmployeeRef(
        employee_id=covering.employee_id, name="Head", department=Department.COMMERCIAL)))
    assert sees(covering, call)  # the head covering for the owner: it rings at their line


def test_a_call_dialed_at_someone_elses_line_is_not_on_the_desk():
    call = call_of(enriched(known=False, dialed=OTHER))
    assert not sees(operator(), call)


def test_the_operator_screen_is_for_operators_heads_and_admins():
    assert opens_operator_screen(operator()) and opens_operator_screen(head())
    assert not opens_operator_screen(negotiator())


def test_a_card_leaves_when_qualified_when_unanswered_and_hung_up_and_when_too_old():
    ringing = call_of(enriched())
    assert card_shown(ringing, NOW, RULES)
    assert not card_shown(call_of(enriched(), qualified()), NOW, RULES)
    assert not card_shown(call_of(enriched(), lifecycle()), NOW, RULES)
    ended = call_of(enriched(), lifecycle(phase=LifecyclePhase.ANSWERED), lifecycle())
    assert card_shown(ended, NOW, RULES) and card(ended).state is CardState.ENDED
    assert not card_shown(ringing, NOW + timedelta(minutes=31), RULES)


def test_the_states_of_a_card():
    assert card(call_of(enriched())).state is CardState.RINGING
    answered = call_of(enriched(), lifecycle(phase=LifecyclePhase.ANSWERED))
    assert card(answered).state is CardState.ANSWERED


# --- what the desk hears --------------------------------------------------------------------


def test_each_part_is_heard_once_the_first_one_stays():
    first, second = routed(), routed(destination=Destination.OWNER, employee=OWNER)
    call = call_of(enriched(), first, second)
    assert call.routed == first


def test_a_decision_after_qualification_tells_the_screen_nothing():
    assert heard(call_of(enriched()), routed(stage=Stage.QUALIFIED)) is None


def test_events_in_any_order_make_the_same_call_with_the_pbxs_start_time():
    started = NOW - timedelta(seconds=5)
    ringing, answered = enriched(started=started), lifecycle(phase=LifecyclePhase.ANSWERED)
    late, early = call_of(answered, ringing), call_of(ringing, answered)
    assert late == early and late.started_at == started


def test_the_database_and_the_replica_views_merge():
    stored = call_of(enriched())
    here = call_of(lifecycle(phase=LifecyclePhase.ANSWERED))
    both = merged(here, stored)
    assert both.enriched == stored.enriched and both.answered_at == here.answered_at


# --- what a card says -----------------------------------------------------------------------


def test_the_owner_is_on_shift_or_not_as_the_router_found():
    assert owner_shift(None) is Shift.UNKNOWN
    assert owner_shift(routed(rule_ids=["ring.owner", "departments.commercial.hours"])) \
        is Shift.ON_SHIFT
    assert owner_shift(routed(rule_ids=["ring.owner", "departments.commercial.hours",
                                        "ring.owner_unavailable"])) is Shift.UNAVAILABLE
    shown = card(call_of(enriched(), routed(destination=Destination.OWNER, employee=OWNER,
                                            rule_ids=["ring.owner"])))
    assert shown.owner is not None and shown.owner.name == OWNER.name
    assert shown.owner.shift is Shift.ON_SHIFT and shown.destination_employee == OWNER.name


def test_a_known_caller_has_the_client_leads_contacts_and_can_be_a_wrong_match():
    shown = card(call_of(enriched()))
    assert shown.known and shown.client_name == "Romashka LLC"
    assert len(shown.open_leads) == 1 and len(shown.recent_contacts) == 2
    assert shown.offers_not_this_client and not shown.offers_create_client


def test_an_unknown_caller_can_be_created_a_withheld_one_cannot():
    assert card(call_of(enriched(known=False))).offers_create_client
    withheld = enriched(known=False).model_copy(update={"caller": None,
                                                        "caller_status": "withheld"})
    shown = card(call_of(withheld))
    assert shown.caller_withheld and not shown.offers_create_client


def test_the_shopping_around_reasons_name_the_owner_and_whom_they_called():
    shown = card(call_of(enriched(shopping=True, dialed=OTHER)))
    assert shown.shopping_around
    assert shown.shopping_reasons == [
        Reason("shopping.other_than_owner", {"owner": OWNER.name, "reached": OTHER.name}),
        Reason("shopping.many_employees", {"count": 1})]
    general = card(call_of(enriched(shopping=True)))
    assert general.shopping_reasons[0].key == "shopping.other_than_owner_general"


def test_a_cards_html_id_is_stable_and_safe_in_a_selector():
    assert dom_id("office-1:a1") == dom_id("office-1:a1") != dom_id("office-1:a2")
    assert dom_id("weird/id:with spaces").replace("-", "").isalnum()


# --- the verdict ----------------------------------------------------------------------------


def test_the_form_as_people_fill_it_in():
    verdict = verdict_from_form({"category": "commercial", "deal_value": "1 500 000,50",
                                 "currency": " rub ", "company_size": "large",
                                 "corporate": "on", "product": " desks ", "comment": ""})
    assert not isinstance(verdict, list)
    assert verdict.deal_value == Decimal("1500000.50") and verdict.currency == "RUB"
    assert verdict.company_size is CompanySize.LARGE and verdict.corporate is True
    assert verdict.product == "desks" and verdict.comment is None


@pytest.mark.parametrize("form, field, error", [
    ({}, "category", "missing"),
    ({"category": "sales"}, "category", "enum"),
    ({"category": "commercial", "deal_value": "-1"}, "deal_value", "greater_than_equal"),
    ({"category": "commercial", "deal_value": "lots"}, "deal_value", "decimal_parsing"),
    ({"category": "commercial", "currency": "RU"}, "currency", "string_pattern_mismatch"),
    ({"category": "commercial", "company_size": "huge"}, "company_size", "enum"),
    ({"category": "commercial", "product": "x" * 201}, "product", "string_too_long"),
    ({"category": "commercial", "comment": "x" * 2001}, "comment", "string_too_long"),
])
def test_the_form_is_refused_as_calls_qualified_would_refuse_it(form, field, error):
    problems = verdict_from_form(form)
    assert isinstance(problems, list)
    assert [(p.field, p.type) for p in problems] == [(field, error)]


def test_every_bad_field_is_named_at_once():
    problems = verdict_from_form({"deal_value": "-1", "currency": "x"})
    assert isinstance(problems, list)
    assert {p.field for p in problems} == {"category", "deal_value", "currency"}


def test_the_event_carries_the_caller_and_client_and_has_the_calls_id():
    call = call_of(enriched())
    verdict = verdict_from_form({"category": "commercial", "deal_value": "100",
                                 "currency": "RUB"})
    assert not isinstance(verdict, list)
    event = qualified_event(call, verdict, OPERATOR_ID, NOW)
    again = qualified_event(call, verdict, OPERATOR_ID, NOW + timedelta(seconds=1))
    assert event.event_id == again.event_id
    assert event.category is Category.COMMERCIAL and event.operator_id == OPERATOR_ID
    assert event.caller == "+79161234567" and event.client_name == "Romashka LLC"
    assert event.segment is not None and event.client_id is not None
    assert same_verdict(verdict_from_form({"category": "commercial", "deal_value": "100.0",
                                           "currency": "RUB"}), event)
    assert not same_verdict(verdict_from_form({"category": "spam"}), event)


# --- corrections of the client base ---------------------------------------------------------


def record(**kw) -> ClientRecord:
    values = {"external_id": "crm-1", "name": "Romashka LLC", "segment": "corporate",
              "phones": {"+79161234567": "Ivan", "+79161234568": None},
              "number_ranges": ["+7495100"]}
    return ClientRecord(**{**values, **kw})


def test_not_this_client_takes_the_number_off_the_record_and_keeps_the_rest():
    body = without_number(record(), "+79161234567")
    assert body == {"name": "Romashka LLC", "segment": "corporate",
                    "phones": [{"number": "+79161234568", "contact_name": None}]}
    body = without_number(record(), "+79161234568")
    assert isinstance(body, dict)
    assert body["phones"] == [{"number": "+79161234567", "contact_name": "Ivan"}]


def test_a_number_of_a_range_or_a_client_without_a_crm_id_is_fixed_in_the_crm():
    assert without_number(record(), "+74951001234") == Reason(
        "client.number_in_range", {"client": "Romashka LLC", "prefix": "+7495100"})
    assert isinstance(without_number(record(external_id=None), "+79161234567"), Reason)
    assert without_number(record(), "+79990000000").key == "client.number_not_theirs"


def test_a_client_created_from_a_card_has_one_crm_id_per_call():
    assert new_client_id("office-1:a1") == new_client_id("office-1:a1")
    assert new_client_id("office-1:a1") != new_client_id("office-1:a2")
