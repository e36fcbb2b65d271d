import uuid
from datetime import UTC, datetime, timedelta

from services.router.policy import route
from shared.events import (CallEnriched, CallerStatus, ClientRef, Department, Destination,
                           EmployeeRef, Ownership)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def enriched(client=None, ownership=None, status=CallerStatus.EXTERNAL) -> CallEnriched:
    return CallEnriched(
        event_id=uuid.uuid4(), occurred_at=NOW, call_id="pbx:1", pbx="pbx",
        caller="+79161234567" if status is CallerStatus.EXTERNAL else None,
        caller_raw="x", caller_status=status, dialed="+74951000000", started_at=NOW,
        client=client, ownership=ownership,
    )


CLIENT = ClientRef(client_id=uuid.uuid4(), name="Romashka LLC", segment="corporate")
OWNER = EmployeeRef(employee_id=uuid.uuid4(), name="Anna Ivanova", department=Department.COMMERCIAL)


def test_owned_client_goes_to_the_owner_with_a_reason():
    since = datetime(2026, 10, 2, tzinfo=UTC)
    decision = route(enriched(CLIENT, Ownership(owner=OWNER, since=since,
                                                last_activity_at=NOW - timedelta(days=1))),
                     now=NOW)
    assert decision.destination is Destination.OWNER
    assert decision.employee_id == OWNER.employee_id
    assert decision.reasons == ["Romashka LLC is owned by Anna Ivanova since 2026-10-02"]


def test_known_client_without_owner_goes_to_the_desk():
    decision = route(enriched(CLIENT), now=NOW)
    assert decision.destination is Destination.CLIENT_DEPARTMENT
    assert decision.client_id == CLIENT.client_id and decision.employee_id is None


def test_unknown_and_withheld_callers_go_to_the_desk():
    for status in CallerStatus:
        decision = route(enriched(status=status), now=NOW)
        assert decision.destination is Destination.CLIENT_DEPARTMENT
        assert decision.reasons


def test_decision_id_is_derived_from_the_input():
    call = enriched()
    assert route(call, now=NOW).event_id == route(call, now=NOW + timedelta(1)).event_id
