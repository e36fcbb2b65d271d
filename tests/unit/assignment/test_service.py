"""The use cases on in-memory ports: a decided lead is published once and marked published,
a lost publication is repeated with the same event, the inbox's deadline and the head's
actions, outcomes counted once."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.assignment import service
from services.assignment.keep import KeepRules
from services.assignment.policy import AssignmentRules, Refused, lead_id_for
from services.assignment.service import Assignment
from shared import topics
from shared.access.principals import person
from shared.batches import Batch, Item
from shared.events import (
    CallRouted,
    Category,
    DealClosed,
    Department,
    Destination,
    EmployeeRef,
    LeadAssigned,
    Role,
    Segment,
    SizeClass,
    Stage,
    Strategy,
)
from tests.fakes.assignment import InMemoryLeads, Staff
from tests.fakes.publishing import RecordingPublisher

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
RULES = AssignmentRules(keep=KeepRules(mode="threshold", thresholds={"RUB": 10_000_000},
                                       low_volume_per_hour=0),
                        deadline=timedelta(minutes=10))


def staff(name, department=Department.COMMERCIAL, role=Role.AGENT, capacity=5) -> Staff:
    ref = EmployeeRef(employee_id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name,
                      department=department, role=role)
    return Staff(ref, capacity=capacity, email=f"{name}@x")


OLGA, ANNA = staff("olga", role=Role.HEAD), staff("anna")
OLGA_SIGNED_IN = person(OLGA.ref.employee_id, OLGA.email, OLGA.ref.name, Department.COMMERCIAL, Role.HEAD)


def wired(*people: Staff) -> tuple[Assignment, InMemoryLeads, RecordingPublisher]:
    leads, publisher = InMemoryLeads(people), RecordingPublisher()
    return Assignment(leads=leads, publisher=publisher, rules=RULES), leads, publisher


def routed(destination=Destination.COMMERCIAL_DEPARTMENT, *, employee_id=None, value=None,
           client_id=None, call_id="p:1") -> CallRouted:
    return CallRouted(event_id=uuid.uuid4(), occurred_at=NOW, call_id=call_id, caller=None,
                      client_id=client_id, destination=destination, employee_id=employee_id,
                      reasons=["r"], stage=Stage.QUALIFIED, segment=Segment.LARGE_CORPORATE,
                      size_class=SizeClass.LARGE,
                      deal_value=Decimal(value) if value is not None else None,
                      currency="RUB" if value is not None else None)


async def test_the_owners_lead_is_published_once_and_marked_published():
    deps, leads, publisher = wired(ANNA)
    client = uuid.uuid4()
    call = routed(Destination.OWNER, employee_id=ANNA.ref.employee_id, client_id=client)
    await service.assign_routed_call(deps, call, now=NOW)
    await service.assign_routed_call(deps, call, now=NOW)  # a redelivery
    [(topic, event, key)] = publisher.sent
    assert topic is topics.LEADS_ASSIGNED and isinstance(event, LeadAssigned)
    assert event.employee_id == ANNA.ref.employee_id and event.strategy is Strategy.OWNER
    assert key == str(client).encode()
    assert leads.published == {lead_id_for("p:1")}
    assert leads.owners[client][0] == ANNA.ref.employee_id


async def test_a_lost_publication_is_repeated_with_the_same_event():
    deps, leads, publisher = wired(ANNA)
    call = routed(Destination.OWNER, employee_id=ANNA.ref.employee_id)
    publisher.fail = True
    with pytest.raises(ConnectionError):
        await service.assign_routed_call(deps, call, now=NOW)
    assert leads.published == set()
    publisher.fail = False
    assert await service.republish_overdue(deps, NOW + timedelta(seconds=10)) == 1
    [(_, event, _)] = publisher.sent
    assert event.lead_id == lead_id_for("p:1") and event.occurred_at == NOW
    assert leads.published == {event.lead_id}
    assert await service.republish_overdue(deps, NOW + timedelta(seconds=20)) == 0


async def test_a_lucrative_lead_is_kept_by_the_head_at_once():
    deps, leads, publisher = wired(OLGA, ANNA)
    await service.assign_routed_call(deps, routed(value=50_000_000), now=NOW)
    [(_, event, _)] = publisher.sent
    assert event.employee_id == OLGA.ref.employee_id and event.strategy is Strategy.HEAD_KEPT


async def test_past_the_deadline_an_inbox_lead_goes_to_a_negotiator():
    deps, leads, publisher = wired(OLGA, ANNA)
    await service.assign_routed_call(deps, routed(value=1_000_000), now=NOW)
    assert publisher.sent == []
    assert [lead.lead_id for lead in await service.waiting_in_inbox(deps)] == [
        lead_id_for("p:1")]
    assert await service.distribute_due(deps, NOW + timedelta(minutes=9)) == []
    [pending] = await service.distribute_due(deps, NOW + timedelta(minutes=10))
    assert pending.employee_id == ANNA.ref.employee_id
    assert pending.strategy is Strategy.STRONGEST_AVAILABLE
    await service.publish_decided_lead(deps, pending)
    assert leads.published == {pending.lead_id}
    assert await service.waiting_in_inbox(deps) == []


async def test_the_head_keeps_or_passes_an_inbox_lead_before_the_deadline():
    deps, leads, publisher = wired(OLGA, ANNA)
    await service.assign_routed_call(deps, routed(value=1_000_000, call_id="p:1"), now=NOW)
    await service.assign_routed_call(deps, routed(value=1_000_000, call_id="p:2"), now=NOW)
    kept = await service.keep_inbox_lead(deps, lead_id_for("p:1"), OLGA.ref, NOW, by=OLGA_SIGNED_IN)
    assert kept.employee_id == OLGA.ref.employee_id and kept.strategy is Strategy.HEAD_KEPT
    with pytest.raises(Refused) as stranger:
        await service.assign_inbox_lead(deps, lead_id_for("p:2"), uuid.uuid4(), NOW, by=OLGA_SIGNED_IN)
    assert stranger.value.kind == "invalid"
    passed = await service.assign_inbox_lead(deps, lead_id_for("p:2"), ANNA.ref.employee_id,
                                             NOW, by=OLGA_SIGNED_IN)
    assert passed.strategy is Strategy.HEAD_ASSIGNED
    with pytest.raises(Refused) as again:
        await service.keep_inbox_lead(deps, lead_id_for("p:2"), OLGA.ref, NOW, by=OLGA_SIGNED_IN)
    assert again.value.kind == "conflict"
    # What the head did is in the audit log, with the decision; the refused tries are not
    assert leads.audited == [
        (OLGA_SIGNED_IN.name, "lead.keep", str(lead_id_for("p:1")), {"employee_id": OLGA.ref.employee_id}),
        (OLGA_SIGNED_IN.name, "lead.assign", str(lead_id_for("p:2")), {"employee_id": ANNA.ref.employee_id})]


async def test_an_outcome_counts_once():
    deps, leads, _ = wired(ANNA)
    await service.assign_routed_call(
        deps, routed(Destination.OWNER, employee_id=ANNA.ref.employee_id), now=NOW)
    deal = DealClosed(event_id=uuid.uuid4(), occurred_at=NOW, call_id="p:1",
                      lead_id=lead_id_for("p:1"), outcome="won")
    assert await service.count_outcome(deps, deal) is True
    assert await service.count_outcome(deps, deal) is False
    assert leads.leads[lead_id_for("p:1")].status == "won"


# ------------------------------------------------------------------ one lead per deal


BORIS = staff("boris", department=Department.CLIENT)  # an operator of the client department
HEAD = staff("helen", role=Role.HEAD)


def ring_for(employee: Staff, client_id, call_id: str) -> CallRouted:
    """The ring-time decision that sends an owned client's call to `employee`."""
    return CallRouted(event_id=uuid.uuid4(), occurred_at=NOW, call_id=call_id, caller=None,
                      client_id=client_id, destination=Destination.OWNER,
                      employee_id=employee.ref.employee_id, reasons=["owned"], stage=Stage.RING,
                      segment=Segment.CORPORATE)


def qualified(client_id, call_id: str, *, value=90_000, category=Category.COMMERCIAL,
              at=NOW) -> CallRouted:
    """The router's decision on a call qualified on the owner's card: by the deal size alone
    (the router does not know the owner), a small deal for the client department."""
    commercial = category is Category.COMMERCIAL
    return CallRouted(
        event_id=uuid.uuid4(), occurred_at=at, call_id=call_id, caller=None,
        client_id=client_id,
        destination=Destination.CLIENT_DEPARTMENT if commercial else Destination.NON_COMMERCIAL,
        employee_id=BORIS.ref.employee_id if commercial else None, reasons=["qualified"],
        stage=Stage.QUALIFIED, segment=Segment.CORPORATE, category=category,
        deal_value=Decimal(value) if commercial else None, currency="RUB" if commercial else None,
        size_class=SizeClass.SMALL if commercial else None, operator_id=BORIS.ref.employee_id)


def owned(leads: InMemoryLeads, owner: Staff, *, days_ago=1) -> uuid.UUID:
    client = uuid.uuid4()
    leads.owners[client] = (owner.ref.employee_id, NOW - timedelta(days=days_ago))
    return client


async def test_a_ringing_call_routed_to_the_owner_is_a_contact_that_keeps_the_ownership():
    deps, leads, publisher = wired(ANNA)
    client = owned(leads, ANNA, days_ago=20)
    await service.assign_routed_call(deps, ring_for(ANNA, client, "p:1"), now=NOW)
    assert leads.leads == {} and publisher.sent == []
    assert leads.owners[client] == (ANNA.ref.employee_id, NOW)  # the owner's activity


async def test_the_call_qualified_commercial_is_the_owners_lead_announced_once():
    deps, leads, publisher = wired(ANNA, BORIS)
    client = owned(leads, ANNA)
    await service.assign_routed_call(deps, ring_for(ANNA, client, "p:1"), now=NOW)
    call = qualified(client, "p:1")
    await service.assign_routed_call(deps, call, now=NOW)
    await service.assign_routed_call(deps, call, now=NOW)  # a redelivery
    [(_, event, _)] = publisher.sent
    assert event.lead_id == lead_id_for("p:1")
    assert event.employee_id == ANNA.ref.employee_id and event.strategy is Strategy.OWNER
    assert event.department is Department.COMMERCIAL  # the owner's, not the operator's
    [lead] = leads.leads.values()
    assert (lead.destination, lead.value) == ("owner", Decimal(90_000))
    assert leads.load(BORIS.ref.employee_id) == 0


async def test_the_next_commercial_call_of_the_client_joins_the_open_lead():
    deps, leads, publisher = wired(ANNA, BORIS)
    client = owned(leads, ANNA)
    for call_id in ("p:1", "p:2", "p:3"):
        await service.assign_routed_call(deps, ring_for(ANNA, client, call_id), now=NOW)
        await service.assign_routed_call(deps, qualified(client, call_id), now=NOW)
    await service.assign_routed_call(deps, qualified(client, "p:3"), now=NOW)  # a redelivery
    assert list(leads.leads) == [lead_id_for("p:1")]  # one lead per deal
    assert leads.joined == {"p:2": lead_id_for("p:1"), "p:3": lead_id_for("p:1")}
    assert [event.lead_id for _, event, _ in publisher.sent] == [lead_id_for("p:1")]
    assert leads.load(ANNA.ref.employee_id) == 1


async def test_once_the_deal_is_closed_the_next_commercial_call_makes_a_new_lead():
    deps, leads, publisher = wired(ANNA, BORIS)
    client = owned(leads, ANNA)
    await service.assign_routed_call(deps, ring_for(ANNA, client, "p:1"), now=NOW)
    await service.assign_routed_call(deps, qualified(client, "p:1"), now=NOW)
    await service.count_outcome(deps, DealClosed(event_id=uuid.uuid4(), occurred_at=NOW,
                                                 call_id="p:1", lead_id=lead_id_for("p:1"),
                                                 outcome="won"))
    await service.assign_routed_call(deps, ring_for(ANNA, client, "p:2"), now=NOW)
    await service.assign_routed_call(deps, qualified(client, "p:2"), now=NOW)
    assert [event.lead_id for _, event, _ in publisher.sent] == [lead_id_for("p:1"),
                                                                  lead_id_for("p:2")]
    assert leads.joined == {}


async def test_a_call_of_the_owner_qualified_non_commercial_stays_a_contact():
    deps, leads, publisher = wired(ANNA, BORIS)
    client = owned(leads, ANNA)
    await service.assign_routed_call(deps, ring_for(ANNA, client, "p:1"), now=NOW)
    await service.assign_routed_call(
        deps, qualified(client, "p:1", category=Category.OPERATIONAL), now=NOW)
    assert leads.leads == {} and publisher.sent == []


async def test_the_head_covering_for_the_owner_gets_the_lead_and_the_client_stays_the_owners():
    deps, leads, publisher = wired(ANNA, HEAD, BORIS)
    client = owned(leads, ANNA)
    await service.assign_routed_call(deps, ring_for(HEAD, client, "p:1"), now=NOW)
    await service.assign_routed_call(deps, qualified(client, "p:1"), now=NOW)
    [(_, event, _)] = publisher.sent
    assert event.employee_id == HEAD.ref.employee_id and event.strategy is Strategy.OWNER
    assert leads.owners[client][0] == ANNA.ref.employee_id


async def test_a_desk_call_of_an_owned_client_qualified_commercial_is_the_desks_lead():
    # The owner could not be reached when it rang (off shift, no head): the desk took it
    deps, leads, publisher = wired(ANNA, BORIS)
    client = owned(leads, ANNA)
    desk = CallRouted(event_id=uuid.uuid4(), occurred_at=NOW, call_id="p:1", caller=None,
                      client_id=client, destination=Destination.CLIENT_DEPARTMENT,
                      employee_id=None, reasons=["desk"], stage=Stage.RING)
    await service.assign_routed_call(deps, desk, now=NOW)
    await service.assign_routed_call(deps, qualified(client, "p:1"), now=NOW)
    [(_, event, _)] = publisher.sent
    assert event.employee_id == BORIS.ref.employee_id
    assert event.strategy is Strategy.CLIENT_DEPARTMENT


def batch_of(*calls: CallRouted) -> tuple[Batch, list[Item[CallRouted]]]:
    records = [SimpleNamespace(topic=topics.CALLS_ROUTED.name, partition=0, offset=n,
                               value=call.model_dump_json().encode(), headers=())
               for n, call in enumerate(calls)]
    return (Batch(records, "assignment", RecordingPublisher()),
            [Item(record, call) for record, call in zip(records, calls, strict=True)])


async def test_a_batch_records_its_contacts_together_and_each_lead_on_its_own():
    # Given a batch: an owned client's call ringing at the owner and then qualified
    # commercial, the ring decision delivered twice, and a desk call of an unknown caller
    deps, leads, publisher = wired(ANNA, BORIS)
    client = owned(leads, ANNA, days_ago=20)
    ring = ring_for(ANNA, client, "p:1")
    desk = ring.model_copy(update={"call_id": "p:2", "client_id": None, "employee_id": None,
                                   "destination": Destination.CLIENT_DEPARTMENT})
    batch, items = batch_of(ring, qualified(client, "p:1"), ring, desk)
    # When the batch is assigned
    await service.assign_routed_calls(deps, batch, items, now=NOW)
    # Then each decision is recorded once, the contact kept the ownership, and the qualified
    # call is the owner's one lead, announced once
    assert leads.stages == {("p:1", "ring"), ("p:1", "qualified"), ("p:2", "ring")}
    assert leads.owners[client] == (ANNA.ref.employee_id, NOW)
    [(_, event, _)] = deps.publisher.sent
    assert event.lead_id == lead_id_for("p:1") and event.employee_id == ANNA.ref.employee_id
    assert batch.rejected == 0
    # And redelivered whole, it changes nothing and announces nothing more
    await service.assign_routed_calls(deps, batch, items, now=NOW)
    assert len(deps.publisher.sent) == 1 and len(leads.leads) == 1
