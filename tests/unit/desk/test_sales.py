"""The sales screens' pure decisions: the countdown to an inbox deadline, the negotiators'
chances (the assignment's numbers), which of a person's leads show where, the outcome form,
the inbox answer as rows, and whose shopping-around alerts a person hears of."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from services.assignment.strength import Negotiator, rank
from services.desk.sales import (Availability, Colleague, LeadStatus, MyLead, Reported,
                                 about_own_client, alert_of_call, alert_of_detected,
                                 candidates, clock, countdown, inbox_rows, leads_shown,
                                 may_close, outcome_body, outcome_from_form, posterior, waited)
from shared.chances import DepartmentRecord, Record, chance, department_average
from shared.events import ContactRef, Role, ShoppingAroundDetected, ShoppingRule
from tests.unit.desk.samples import (CLIENT, NOW, OTHER, OWNER, enriched, head, negotiator,
                                     operator)

KIND = ("large_corporate", "large")


# --- the countdown ------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, text", [
    (0, "0:00"), (5, "0:05"), (65, "1:05"), (600, "10:00"), (3599, "59:59"),
    (3600, "1:00:00"), (3723, "1:02:03"), (-4, "0:00"),
])
def test_a_clock_reads_minutes_and_seconds_and_hours_when_there_are(seconds, text):
    assert clock(seconds) == text


def test_the_countdown_rounds_up_and_stops_at_the_deadline():
    due = NOW + timedelta(minutes=4, seconds=31, milliseconds=200)
    assert (countdown(due, NOW).seconds, countdown(due, NOW).text) == (272, "4:32")
    assert not countdown(due, NOW).passed
    assert countdown(NOW + timedelta(milliseconds=1), NOW).text == "0:01"
    at_deadline = countdown(NOW, NOW)
    assert (at_deadline.seconds, at_deadline.passed, at_deadline.text) == (0, True, "0:00")
    assert countdown(NOW - timedelta(minutes=3), NOW).passed


def test_the_waiting_time_counts_from_the_arrival():
    assert waited(NOW - timedelta(minutes=12, seconds=3), NOW) == "12:03"
    assert waited(NOW + timedelta(seconds=2), NOW) == "0:00"  # a clock a little ahead


# --- the negotiators' chances -------------------------------------------------------------


def colleague(name: str, won: int = 0, lost: int = 0, *, role: Role = Role.AGENT, load: int = 0,
              capacity: int = 10, on_leave: bool = False, active: bool = True,
              kind: tuple[str, str] = KIND) -> Colleague:
    records = {kind: Record(won, lost)} if won or lost else {}
    return Colleague(uuid.uuid4(), name, role, load, capacity, active, on_leave, records)


def test_the_chance_is_the_assignments_posterior_mean():
    # The assignment's own example (tests/integration/test_assignment.py): 45 of 50 won against
    # a department that won 55 of 100 on the kind is about 84%.
    star, weak = colleague("Star", 45, 5), colleague("Weak", 10, 40)
    prior = department_average(DepartmentRecord(Record(55, 45), Record(55, 45)), 10)
    assert posterior(Record(45, 5), prior, 10).mean == pytest.approx(0.84, abs=0.01)
    ranked = candidates([star, weak], KIND, 10)
    assert [c.name for c in ranked] == ["Star", "Weak"]
    assert ranked[0].chance == pytest.approx(0.84, abs=0.01)
    assert ranked[0].closed == 50


def test_a_newcomer_starts_at_the_departments_average_and_an_empty_department_at_a_half():
    newcomer, veteran = colleague("New"), colleague("Old", 30, 10)
    ranked = {c.name: c for c in candidates([newcomer, veteran], KIND, 10)}
    on_kind = department_average(DepartmentRecord(Record(30, 10), Record(30, 10)), 10)
    assert ranked["New"].chance == pytest.approx(on_kind)
    assert candidates([colleague("Alone")], KIND, 10)[0].chance == pytest.approx(0.5)


def test_the_select_lists_the_available_first_and_says_why_others_cannot_take_it():
    full = colleague("Full", 40, 1, load=10, capacity=10)
    away = colleague("Away", 40, 1, on_leave=True)
    free = colleague("Free", 1, 5, load=3)
    boss = colleague("Boss", 50, 0, role=Role.HEAD)  # the head counts in the department only
    gone = colleague("Gone", 50, 0, active=False)
    ranked = candidates([full, away, free, boss, gone], KIND, 10)
    assert [(c.name, c.availability) for c in ranked] == [
        ("Free", Availability.AVAILABLE), ("Away", Availability.ON_LEAVE),
        ("Full", Availability.AT_CAPACITY)]
    assert (ranked[0].load, ranked[0].capacity) == (3, 10)


@pytest.mark.parametrize("records", [
    [(45, 5), (10, 40)],
    [(3, 0), (40, 10), (0, 0)],
    [(0, 0)],
    [(7, 2), (7, 2), (1, 12), (0, 5)],
])
def test_the_desk_shows_the_chance_the_assignment_ranks_by(records):
    # The same people with the same outcomes on the lead's kind: the head's select shows
    # exactly the chance the assignment scores them by when it distributes the lead.
    people = [colleague(f"N{i}", won, lost) for i, (won, lost) in enumerate(records)]
    shown = {c.employee_id: c.chance for c in candidates(people, KIND, 10)}
    on_kind = sum((Record(won, lost) for won, lost in records), Record())
    negotiators = [Negotiator(p.employee_id, p.name, p.load, p.capacity, record=p.record(KIND))
                   for p in people]
    scored = rank(negotiators, DepartmentRecord(on_kind, on_kind), None, 10)
    assert {s.negotiator.employee_id: s.chance for s in scored} == shown
    assert {s.negotiator.employee_id: s.score for s in scored} == shown  # no value: the chance


def test_the_dashboards_distribution_is_centred_on_the_chance_shown():
    prior = department_average(DepartmentRecord(Record(30, 20), Record(300, 200)), 10)
    for record in (Record(), Record(45, 5), Record(1, 30)):
        assert posterior(record, prior, 10).mean == pytest.approx(chance(record, prior, 10))


def test_the_records_of_another_kind_do_not_count_for_this_one():
    other_kind = colleague("Other", 40, 0, kind=("individual", "small"))
    mine = colleague("Mine", 2, 2)
    ranked = {c.name: c for c in candidates([other_kind, mine], KIND, 10)}
    assert ranked["Other"].closed == 0 and ranked["Mine"].closed == 4


# --- the inbox answer ---------------------------------------------------------------------


def test_the_inbox_answer_becomes_rows_and_an_odd_item_is_left_out():
    lead_id = uuid.uuid4()
    rows = inbox_rows({"count": 2, "leads": [
        {"lead_id": str(lead_id), "call_id": "office-1:a", "caller": "+79161234567",
         "client": {"client_id": str(CLIENT.client_id), "name": "Romashka", "segment": "corporate"},
         "segment": "corporate", "size_class": "large", "value": "5000000", "currency": "RUB",
         "arrived_at": NOW.isoformat(), "waiting_seconds": 3.0,
         "due_at": (NOW + timedelta(minutes=10)).isoformat(), "seconds_left": 597.0,
         "overdue": False, "candidates": []},
        {"lead_id": "not an id"},
    ]})
    [row] = rows
    assert (row.lead_id, row.client_name, row.value, row.kind) == (
        lead_id, "Romashka", Decimal("5000000"), ("corporate", "large"))
    assert row.dom_id == f"inbox-{lead_id.hex[:20]}"
    assert inbox_rows({}) == []


# --- a person's leads ---------------------------------------------------------------------


def lead(status: LeadStatus = LeadStatus.OPEN, *, days: int = 1, employee_id=None,
         closed_days: int | None = None) -> MyLead:
    return MyLead(lead_id=uuid.uuid4(), call_id=f"office-1:{uuid.uuid4().hex[:6]}",
                  employee_id=employee_id, client_id=CLIENT.client_id, client_name="Romashka",
                  caller=None, segment="corporate", size_class="large",
                  value=Decimal("5000000"), currency="RUB", status=status,
                  created_at=NOW - timedelta(days=days),
                  closed_at=NOW - timedelta(days=closed_days) if closed_days is not None
                  else None)


def test_open_leads_show_newest_first_and_closed_ones_for_ninety_days():
    old_open, new_open = lead(days=200), lead(days=1)
    recent_win, old_win = lead(LeadStatus.WON, closed_days=3), lead(LeadStatus.WON, closed_days=95)
    loss = lead(LeadStatus.LOST, closed_days=10)
    shown = leads_shown([old_open, new_open, recent_win, old_win, loss], {}, NOW)
    assert shown[LeadStatus.OPEN] == [new_open, old_open]
    assert shown[LeadStatus.WON] == [recent_win]
    assert shown[LeadStatus.LOST] == [loss]


def test_an_outcome_told_shows_before_the_assignment_closes_the_lead():
    open_lead = lead()
    told = Reported(LeadStatus.WON, Decimal("4800000"), "RUB", NOW)
    shown = leads_shown([open_lead], {open_lead.lead_id: told}, NOW)
    [won] = shown[LeadStatus.WON]
    assert not shown[LeadStatus.OPEN]
    assert (won.final_value, won.final_currency, won.closed_at) == (Decimal("4800000"), "RUB",
                                                                     NOW)
    lost_already = lead(LeadStatus.LOST, closed_days=1)  # the database's word stands
    assert leads_shown([lost_already], {lost_already.lead_id: told}, NOW)[LeadStatus.LOST]


def test_who_may_record_an_outcome():
    mine = negotiator()
    own = lead(employee_id=mine.employee_id)
    assert may_close(mine, own)
    assert not may_close(negotiator(), own)  # another negotiator's lead
    assert may_close(head(), own)  # the head of sales
    assert not may_close(operator(), lead(employee_id=operator().employee_id))  # no deals:write
    assert not may_close(mine, lead(LeadStatus.WON, employee_id=mine.employee_id, closed_days=1))


# --- the outcome form ---------------------------------------------------------------------


def test_the_outcome_form_reads_as_deals_closed_does():
    won = outcome_from_form({"outcome": "won", "final_value": "4 800 000,50", "currency": "rub"})
    assert (won.outcome, won.final_value, won.currency) == ("won", Decimal("4800000.50"), "RUB")
    assert outcome_body(won) == {"outcome": "won", "value": "4800000.50", "currency": "RUB"}
    lost = outcome_from_form({"outcome": "lost", "final_value": "-1", "currency": "zz"})
    assert outcome_body(lost) == {"outcome": "lost", "value": None, "currency": None}


@pytest.mark.parametrize("form, errors", [
    ({}, {"outcome": "missing"}),
    ({"outcome": "maybe"}, {"outcome": "literal_error"}),
    ({"outcome": "won"}, {"final_value": "missing"}),
    ({"outcome": "won", "final_value": "-5", "currency": "rub"},
     {"final_value": "greater_than_equal"}),
    ({"outcome": "won", "final_value": "5", "currency": "rubles"},
     {"currency": "string_pattern_mismatch"}),
    ({"outcome": "won", "final_value": "5", "currency": ""}, {"currency": "missing"}),
    ({"outcome": "won", "final_value": "lots", "currency": "RUB"},
     {"final_value": "decimal_parsing"}),
])
def test_the_outcome_forms_problems_stand_beside_their_fields(form, errors):
    problems = outcome_from_form(form)
    assert isinstance(problems, list)
    assert {p.field: p.type for p in problems} == errors


# --- shopping around ----------------------------------------------------------------------


def test_an_alert_reads_the_same_from_the_lookups_event_and_from_the_call():
    call = enriched("office-1:sh", shopping=True, dialed=OTHER)
    event = ShoppingAroundDetected(
        event_id=uuid.uuid4(), occurred_at=NOW, call_id="office-1:sh", client=CLIENT,
        owner=OWNER, reached=OTHER,
        rules=[ShoppingRule.OTHER_THAN_OWNER, ShoppingRule.MANY_EMPLOYEES],
        reasons=["owned by Anna Ivanova but called Boris Petrov"],
        history=[ContactRef(call_id="office-1:a0", occurred_at=NOW, employee=OTHER)],
        notify=[OWNER.employee_id])
    from_call, from_event = alert_of_call(call), alert_of_detected(event)
    assert from_call is not None
    assert from_call.dom_id == from_event.dom_id
    assert from_call.reasons == from_event.reasons
    assert (from_event.client_name, from_event.owner_name, from_event.reached_name) == (
        "Romashka LLC", "Anna Ivanova", "Boris Petrov")
    assert [r.key for r in from_event.reasons] == ["shopping.other_than_owner",
                                                   "shopping.many_employees"]
    assert alert_of_call(enriched("office-1:calm")) is None


def test_an_owner_hears_of_their_own_clients_only():
    alert = alert_of_call(enriched("office-1:sh", shopping=True))
    assert alert is not None
    owner = negotiator()
    assert not about_own_client(owner, alert)
    assert about_own_client(replace(owner, employee_id=OWNER.employee_id), alert)
