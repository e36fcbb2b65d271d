"""What lead a routed call makes (plan_lead), and the event a decided lead is announced with."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from services.assignment.policy import PendingLead, Track, assigned_event, lead_id_for, plan_lead
from services.assignment.strength import LeadKind
from shared.events import (
    CallRouted,
    Category,
    Department,
    Destination,
    ScoredCandidate,
    Segment,
    SizeClass,
    Stage,
    Strategy,
)

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def routed(destination, employee_id=None, stage=Stage.RING, **extra) -> CallRouted:
    return CallRouted(event_id=uuid.uuid4(), occurred_at=NOW, call_id="p:1", caller=None,
                      client_id=None, destination=destination, employee_id=employee_id,
                      reasons=["r"], stage=stage, **extra)


def test_a_ringing_call_routed_to_the_owner_is_a_contact_not_a_lead():
    assert plan_lead(routed(Destination.OWNER, uuid.uuid4()), now=NOW) is None


def test_a_call_routed_to_the_owner_is_the_owners_lead_once_qualified_commercial():
    # Given a call that rang for the owner, qualified as a small commercial deal: the router
    # would leave such a deal with the operator who qualified it
    owner, operator = uuid.uuid4(), uuid.uuid4()
    qualified = routed(Destination.CLIENT_DEPARTMENT, operator, Stage.QUALIFIED,
                       operator_id=operator, category=Category.COMMERCIAL,
                       deal_value=Decimal(90000), currency="RUB", size_class=SizeClass.SMALL,
                       segment=Segment.CORPORATE)
    plan = plan_lead(qualified, now=NOW, owner_at_ring=owner)
    # Then it is the owner's lead, whoever qualified it, with what the qualification found
    assert plan.track is Track.OWNER and plan.strategy is Strategy.OWNER
    assert plan.employee_id == owner
    assert plan.lead_id == lead_id_for("p:1")
    assert plan.kind == LeadKind("corporate", "small")
    assert (plan.value, plan.currency) == (Decimal(90000), "RUB")
    # and a large deal too: the client is the owner's, not the head of sales' inbox's
    large = routed(Destination.COMMERCIAL_DEPARTMENT, stage=Stage.QUALIFIED,
                   category=Category.COMMERCIAL, size_class=SizeClass.LARGE)
    assert plan_lead(large, now=NOW, owner_at_ring=owner).employee_id == owner


def test_a_qualified_decision_that_names_the_owner_is_the_owners_lead():
    owner = uuid.uuid4()
    plan = plan_lead(routed(Destination.OWNER, owner, Stage.QUALIFIED,
                            category=Category.COMMERCIAL), now=NOW)
    assert plan.track is Track.OWNER and plan.employee_id == owner


def test_a_call_routed_to_the_owner_and_qualified_non_commercial_is_no_lead():
    qualified = routed(Destination.NON_COMMERCIAL, stage=Stage.QUALIFIED,
                       category=Category.OPERATIONAL)
    assert plan_lead(qualified, now=NOW, owner_at_ring=uuid.uuid4()) is None


def test_a_desk_call_is_not_a_lead_yet():
    assert plan_lead(routed(Destination.CLIENT_DEPARTMENT), now=NOW) is None


def test_a_non_commercial_call_is_never_a_lead():
    assert plan_lead(routed(Destination.NON_COMMERCIAL, stage=Stage.QUALIFIED), now=NOW) is None


def test_a_qualified_small_lead_stays_with_the_operator_who_qualified_it():
    operator = uuid.uuid4()
    plan = plan_lead(routed(Destination.CLIENT_DEPARTMENT, operator, Stage.QUALIFIED,
                            operator_id=operator, deal_value=Decimal(90000), currency="RUB",
                            size_class=SizeClass.SMALL, segment=Segment.SMALL_BUSINESS),
                     now=NOW)
    assert plan.track is Track.CLIENT_DEPARTMENT and plan.employee_id == operator
    assert plan.strategy is Strategy.CLIENT_DEPARTMENT
    assert plan.kind == LeadKind("small_business", "small")
    assert (plan.value, plan.currency, plan.at) == (Decimal(90000), "RUB", NOW)


def test_a_commercial_lead_has_nobody_yet_and_knows_its_kind():
    ring = plan_lead(routed(Destination.COMMERCIAL_DEPARTMENT, segment=Segment.LARGE_CORPORATE),
                     now=NOW)
    assert ring.track is Track.COMMERCIAL_DEPARTMENT
    assert ring.employee_id is None and ring.strategy is None
    assert ring.kind == LeadKind("large_corporate", "unknown")  # no size before qualification
    qualified = plan_lead(routed(Destination.COMMERCIAL_DEPARTMENT, stage=Stage.QUALIFIED,
                                 size_class=SizeClass.LARGE), now=NOW)
    assert qualified.kind == LeadKind("unknown", "large")


def test_both_stages_of_a_call_make_the_same_lead():
    ring = plan_lead(routed(Destination.COMMERCIAL_DEPARTMENT), now=NOW)
    qualified = plan_lead(routed(Destination.COMMERCIAL_DEPARTMENT, stage=Stage.QUALIFIED),
                          now=NOW)
    assert ring.lead_id == qualified.lead_id == lead_id_for("p:1")


def test_the_announcement_of_a_lead_is_the_same_every_time():
    lead_id, employee = uuid.uuid4(), uuid.uuid4()
    runner = ScoredCandidate(employee_id=uuid.uuid4(), score=0.5)
    pending = PendingLead(lead_id, None, employee, "Anna", Department.COMMERCIAL,
                          Strategy.STRONGEST_AVAILABLE, call_id="p:9", decided_at=NOW,
                          score=0.7, runners_up=(runner,))
    first = assigned_event(pending, call_id="", now=datetime.now(UTC))
    again = assigned_event(pending, call_id="", now=datetime.now(UTC))
    assert first == again
    assert first.call_id == "p:9" and first.occurred_at == NOW
    assert first.score == 0.7 and first.runners_up == [runner]
