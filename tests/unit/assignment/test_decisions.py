"""Who gets a lead: the client department's operators, a new commercial lead, the head's
actions on the inbox, and the distribution at the deadline."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.assignment.keep import KeepRules, RecentFlow
from services.assignment.policy import (
    AssignmentRules,
    Choice,
    InboxLead,
    LeadPlan,
    Refused,
    ToInbox,
    Track,
    choose_operator,
    distribute,
    head_assigns,
    head_keeps_from_inbox,
    head_may_act,
    on_arrival,
)
from services.assignment.strength import LeadKind, Negotiator
from shared.chances import DepartmentRecord, Record
from shared.events import Strategy

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DEPARTMENT = DepartmentRecord(kind=Record(30, 70), overall=Record(300, 700))
RULES = AssignmentRules(keep=KeepRules(mode="threshold", thresholds={"RUB": 10_000_000},
                                       low_volume_per_hour=0),
                        deadline=timedelta(minutes=10), runners_up=2)


def person(name, won=0, lost=0, *, load=0, capacity=3, active=True, on_leave=False):
    return Negotiator(employee_id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name, load=load,
                      capacity=capacity, active=active, on_leave=on_leave,
                      record=Record(won, lost), email=f"{name}@x")


def plan(value=None, currency="RUB") -> LeadPlan:
    return LeadPlan(lead_id=uuid.uuid4(), track=Track.COMMERCIAL_DEPARTMENT, employee_id=None,
                    strategy=None, kind=LeadKind("large_corporate", "large"),
                    value=Decimal(value) if value is not None else None, currency=currency,
                    at=NOW)


def inbox_lead(value="1000000", due=NOW + timedelta(minutes=5)) -> InboxLead:
    return InboxLead(lead_id=uuid.uuid4(), call_id="p:1", client_id=None, client_name=None,
                     caller=None, segment="large_corporate", size_class="large",
                     value=Decimal(value), currency="RUB", arrived_at=NOW - timedelta(minutes=5),
                     due_at=due, attempts=0)


# ------------------------------------------------------------------ the client department


def test_the_operator_who_qualified_the_call_keeps_it_while_under_capacity():
    anna, boris = person("anna", load=2), person("boris")
    assert choose_operator(anna.employee_id, [anna, boris]) is anna


def test_a_full_operator_passes_it_to_the_least_loaded_available_one():
    anna = person("anna", load=3)
    boris, vera, gleb = person("boris", load=2), person("vera", load=1), person("gleb",
                                                                                 on_leave=True)
    assert choose_operator(anna.employee_id, [anna, boris, vera, gleb]) is vera


def test_when_the_whole_department_is_full_the_qualifying_operator_keeps_it():
    anna, boris = person("anna", load=3), person("boris", load=5)
    assert choose_operator(anna.employee_id, [anna, boris]) is anna
    assert choose_operator(None, [boris]) is None


# ------------------------------------------------------------------ a new commercial lead


def test_a_lucrative_lead_is_kept_by_the_head_with_the_runners_up():
    olga = person("olga", 50, 20)
    team = [person("a", 10, 10), person("b", 5, 15), person("c"), person("d", load=3)]
    choice = on_arrival(plan("25000000"), [olga], team, DEPARTMENT, RecentFlow(50), RULES)
    assert isinstance(choice, Choice)
    assert choice.employee is olga and choice.strategy is Strategy.HEAD_KEPT
    assert choice.score > 0.6 * 25_000_000
    assert [s.negotiator.name for s in choice.runners_up] == ["a", "c"]


def test_other_leads_wait_in_the_inbox_until_the_deadline():
    olga = person("olga")
    arrival = on_arrival(plan("500000"), [olga], [person("a")], DEPARTMENT, RecentFlow(50), RULES)
    assert arrival == ToInbox(NOW + timedelta(minutes=10))


def test_a_full_head_keeps_nothing_even_at_low_volume():
    olga = person("olga", load=3, capacity=3)
    low = AssignmentRules(keep=KeepRules(mode="off", low_volume_per_hour=5))
    assert isinstance(on_arrival(plan("1"), [olga], [], DEPARTMENT, RecentFlow(0), low), ToInbox)
    assert isinstance(on_arrival(plan("90000000"), [olga], [], DEPARTMENT, RecentFlow(50), RULES),
                      ToInbox)


# ------------------------------------------------------------------ the deadline


def test_past_the_deadline_the_strongest_available_negotiator_takes_it():
    team = [person("rookie", 3), person("veteran", 40, 10), person("star", 90, 10, load=3),
            person("away", 90, 5, on_leave=True)]
    choice = distribute(team, DEPARTMENT, Decimal(2000000), RULES)
    assert choice.employee.name == "veteran"
    assert choice.strategy is Strategy.STRONGEST_AVAILABLE
    assert [s.negotiator.name for s in choice.runners_up] == ["rookie"]
    assert choice.score > choice.runners_up[0].score


def test_when_nobody_can_take_it_there_is_no_choice():
    assert distribute([person("full", load=3)], DEPARTMENT, Decimal(1), RULES) is None


# ------------------------------------------------------------------ the head's actions


def test_the_head_acts_only_before_the_deadline_and_while_the_lead_waits():
    head_may_act(inbox_lead(), NOW)
    with pytest.raises(Refused) as late:
        head_may_act(inbox_lead(due=NOW), NOW)
    assert late.value.kind == "conflict" and "deadline" in late.value.reason
    with pytest.raises(Refused) as gone:
        head_may_act(None, NOW)
    assert gone.value.kind == "conflict"


def test_the_head_keeps_only_under_capacity():
    kept = head_keeps_from_inbox(inbox_lead(), person("olga", 30, 10), [person("a")],
                                 DEPARTMENT, RULES)
    assert kept.strategy is Strategy.HEAD_KEPT
    with pytest.raises(Refused) as full:
        head_keeps_from_inbox(inbox_lead(), person("olga", load=3), [], DEPARTMENT, RULES)
    assert full.value.kind == "conflict" and "capacity" in full.value.reason


def test_the_head_assigns_to_an_available_negotiator_with_their_score():
    weak, strong = person("weak", 1, 9), person("strong", 30, 10)
    choice = head_assigns(inbox_lead(), weak.employee_id, [weak, strong], DEPARTMENT, RULES)
    assert choice.employee is weak and choice.strategy is Strategy.HEAD_ASSIGNED
    assert [s.negotiator.name for s in choice.runners_up] == ["strong"]
    assert choice.score < choice.runners_up[0].score  # the head may overrule the estimate


@pytest.mark.parametrize(("who", "kind", "says"), [
    (person("full", load=3), "conflict", "at capacity"),
    (person("away", on_leave=True), "conflict", "on leave"),
    (person("gone", active=False), "conflict", "has left"),
])
def test_the_head_cannot_assign_to_someone_who_cannot_take_it(who, kind, says):
    with pytest.raises(Refused) as refused:
        head_assigns(inbox_lead(), who.employee_id, [who], DEPARTMENT, RULES)
    assert refused.value.kind == kind and says in refused.value.reason


def test_the_head_cannot_assign_to_a_stranger():
    with pytest.raises(Refused) as refused:
        head_assigns(inbox_lead(), uuid.uuid4(), [person("a")], DEPARTMENT, RULES)
    assert refused.value.kind == "invalid" and refused.value.where == "employee_id"
