"""Which commercial leads the head keeps at once."""

import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.assignment.keep import KeepRules, RecentFlow, decide_keep, keeping_head, why_keep
from services.assignment.strength import Negotiator

THRESHOLDS = KeepRules(mode="threshold", thresholds={"RUB": 10_000_000},
                       low_volume_per_hour=0)
TOP_TENTH = KeepRules(mode="top_share", top_share=0.1, low_volume_per_hour=0)
BUSY = RecentFlow(inflow_last_hour=50)


def head(name="Olga", *, load=0, capacity=3, active=True, on_leave=False):
    return Negotiator(employee_id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name, load=load,
                      capacity=capacity, active=active, on_leave=on_leave, email=f"{name}@x")


def test_the_head_keeps_a_lead_at_the_threshold_of_its_currency():
    kept = decide_keep([head()], Decimal(10000000), "RUB", None, BUSY, THRESHOLDS)
    assert kept is not None and kept.head.name == "Olga"
    assert "threshold" in kept.reason
    assert decide_keep([head()], Decimal(9999999), "RUB", None, BUSY, THRESHOLDS) is None
    # No threshold for the currency, or no value at all: passed on.
    assert decide_keep([head()], Decimal(10000000), "USD", None, BUSY, THRESHOLDS) is None
    assert decide_keep([head()], None, None, None, BUSY, THRESHOLDS) is None


def test_the_head_keeps_the_top_share_by_expected_value():
    recent = RecentFlow(inflow_last_hour=50, recent_expected_values=[float(v) for v in range(1, 20)])
    # 19 recent leads and this one: the top 10% are the best 2.
    assert why_keep(Decimal(1), "RUB", 19.0, recent, TOP_TENTH) is not None  # 1st
    assert why_keep(Decimal(1), "RUB", 18.5, recent, TOP_TENTH) is not None  # 2nd
    assert why_keep(Decimal(1), "RUB", 17.5, recent, TOP_TENTH) is None  # 3rd
    # The very first lead is the best so far.
    assert why_keep(Decimal(1), "RUB", 1.0, RecentFlow(50), TOP_TENTH) is not None
    assert why_keep(None, None, None, recent, TOP_TENTH) is None


def test_at_low_volume_the_head_keeps_every_lead():
    rules = KeepRules(mode="off", low_volume_per_hour=5)
    assert decide_keep([head()], None, None, None, RecentFlow(inflow_last_hour=4), rules)
    assert decide_keep([head()], None, None, None, RecentFlow(inflow_last_hour=5), rules) is None


def test_the_head_keeps_nothing_beyond_capacity():
    full = head(load=3, capacity=3)
    assert decide_keep([full], Decimal(50000000), "RUB", None, BUSY, THRESHOLDS) is None
    low_volume = KeepRules(mode="off", low_volume_per_hour=100)
    assert decide_keep([full], Decimal(1), "RUB", None, RecentFlow(0), low_volume) is None


def test_a_head_on_leave_or_gone_keeps_nothing():
    for absent in (head(on_leave=True), head(active=False)):
        assert decide_keep([absent], Decimal(50000000), "RUB", None, BUSY, THRESHOLDS) is None


def test_of_several_heads_the_one_with_the_most_room_keeps():
    heads = [head("a", load=2, capacity=3), head("b", load=1, capacity=4), head("c", load=0,
             capacity=2)]
    assert keeping_head(heads).name == "b"


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=5),
       st.integers(0, 30))
def test_whoever_keeps_has_room(heads, leads):
    team = [head(f"h{i}", load=load, capacity=cap) for i, (load, cap) in enumerate(heads)]
    loads = {h.name: h.load for h in team}
    rules = KeepRules(mode="off", low_volume_per_hour=1000)
    for _ in range(leads):
        current = [head(h.name, load=loads[h.name], capacity=h.capacity) for h in team]
        kept = decide_keep(current, None, None, None, RecentFlow(0), rules)
        if kept is None:
            assert all(loads[h.name] >= h.capacity for h in team)
            break
        loads[kept.head.name] += 1
    assert all(loads[h.name] <= max(h.capacity, h.load) for h in team)
