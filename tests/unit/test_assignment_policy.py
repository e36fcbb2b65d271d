import uuid
from datetime import UTC, datetime

from services.assignment.policy import plan_lead
from shared.events import CallRouted, Destination, Strategy

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def routed(destination, employee_id=None) -> CallRouted:
    return CallRouted(event_id=uuid.uuid4(), occurred_at=NOW, call_id="p:1", caller=None,
                      client_id=None, destination=destination, employee_id=employee_id,
                      reasons=["r"])


def test_a_call_routed_to_the_owner_is_the_owners_lead():
    owner = uuid.uuid4()
    plan = plan_lead(routed(Destination.OWNER, owner))
    assert plan.employee_id == owner and plan.strategy is Strategy.OWNER
    assert plan.lead_id == plan_lead(routed(Destination.OWNER, owner)).lead_id


def test_a_desk_call_is_not_a_lead_yet():
    assert plan_lead(routed(Destination.CLIENT_DEPARTMENT)) is None
