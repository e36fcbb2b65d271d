"""The strength estimate and the ranking of the available negotiators."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.assignment.strength import Negotiator, rank
from shared.chances import DepartmentRecord, Record, chance, department_average

# A department whose members close about a third of their large corporate leads.
DEPARTMENT = DepartmentRecord(kind=Record(won=60, lost=120), overall=Record(won=300, lost=600))
STRENGTH = 10.0


def negotiator(name, won=0, lost=0, *, load=0, capacity=5, active=True, on_leave=False):
    return Negotiator(employee_id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name, load=load,
                      capacity=capacity, active=active, on_leave=on_leave,
                      record=Record(won, lost))


def test_three_wins_of_three_do_not_outrank_forty_of_fifty():
    rookie, veteran = negotiator("rookie", won=3), negotiator("veteran", won=40, lost=10)
    ranked = rank([rookie, veteran], DEPARTMENT, 1_000_000, STRENGTH)
    assert [s.negotiator.name for s in ranked] == ["veteran", "rookie"]
    assert ranked[0].chance > 0.7 > ranked[1].chance > department_average(DEPARTMENT, STRENGTH)


@given(average=st.floats(min_value=0.05, max_value=0.7))
def test_forty_of_fifty_beats_three_of_three_for_any_plausible_department(average):
    # Below 0.72 or so: a department closing more than 80% would make 40 of 50 a weak record.
    rookie = chance(Record(3, 0), average, STRENGTH)
    veteran = chance(Record(40, 10), average, STRENGTH)
    assert veteran > rookie


def test_a_newcomer_starts_at_the_department_average():
    average = department_average(DEPARTMENT, STRENGTH)
    assert chance(Record(), average, STRENGTH) == pytest.approx(average)
    assert average == pytest.approx(1 / 3, abs=0.01)


def test_the_kind_average_leans_on_the_overall_average_while_the_kind_is_new():
    unseen_kind = DepartmentRecord(kind=Record(), overall=Record(won=80, lost=20))
    assert department_average(unseen_kind, STRENGTH) == pytest.approx(81 / 102)
    empty = DepartmentRecord()
    assert department_average(empty, STRENGTH) == 0.5


def test_the_more_outcomes_the_less_the_prior_counts():
    average = 0.3
    few = chance(Record(4, 1), average, STRENGTH)  # 80% of 5
    many = chance(Record(400, 100), average, STRENGTH)  # 80% of 500
    assert average < few < many < 0.8


def test_the_score_is_the_expected_value():
    [scored] = rank([negotiator("a", won=5, lost=5)], DEPARTMENT, 2_000_000, STRENGTH)
    assert scored.score == pytest.approx(scored.chance * 2_000_000)
    [without_value] = rank([negotiator("a", won=5, lost=5)], DEPARTMENT, None, STRENGTH)
    assert without_value.score == pytest.approx(scored.chance)


def test_nobody_over_capacity_on_leave_or_gone_is_chosen():
    star = 200
    full = negotiator("full", won=star, load=5, capacity=5)
    over = negotiator("over", won=star, load=7, capacity=5)
    away = negotiator("away", won=star, on_leave=True)
    gone = negotiator("gone", won=star, active=False)
    no_room = negotiator("no room", won=star, capacity=0)
    modest = negotiator("modest", won=1, lost=9)
    ranked = rank([full, over, away, gone, no_room, modest], DEPARTMENT, 1, STRENGTH)
    assert [s.negotiator.name for s in ranked] == ["modest"]


def test_on_a_tie_the_least_loaded_goes_first():
    busy = negotiator("a busy", won=10, lost=10, load=3)
    idle = negotiator("b idle", won=10, lost=10, load=1)
    newcomer_busy, newcomer_idle = negotiator("c", load=2), negotiator("d", load=0)
    ranked = rank([busy, idle, newcomer_busy, newcomer_idle], DEPARTMENT, 100, STRENGTH)
    names = [s.negotiator.name for s in ranked]
    assert names.index("b idle") < names.index("a busy")
    assert names.index("d") < names.index("c")

