"""What a CRM's request changes in the client base (services.lookup.changes, pure), and the
outcome use case with an in-memory client base: the same request twice changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.lookup import service
from services.lookup.changes import (KEEP, ClientPhone, LeadToClose, PostedOutcome, Refusal,
                                     ReportedOutcome, StoredClient, StoredEmployee,
                                     client_changes, client_record, deal_closed,
                                     employee_changes, employee_record, posted_outcome,
                                     reported_again)
from services.lookup.policy import LookupRules
from services.lookup.service import Lookup
from shared.access.principals import NotAllowed, Scope, integration, person
from shared.events import Department, Role, Segment, stable_id
from tests.fakes.lookup import FakeClientBase
from tests.fakes.publishing import RecordingPublisher

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
OWNER = uuid.uuid4()


def stored_client(**kw: Any) -> StoredClient:
    return StoredClient(**{
        "client_id": stable_id("client", "c1"), "external_id": "c1", "name": "Ромашка",
        "segment": Segment.CORPORATE, "tax_id": "7701234567",
        "phones": (ClientPhone("+79161111111", "Иван"), ClientPhone("+79162222222")),
        "number_ranges": ("+7495100",), "owner_id": OWNER, **kw})


def request(**kw: Any):
    return client_record("c1", **{"name": "Ромашка", "segment": "corporate", "region": "RU",
                                  **kw})


def test_a_client_as_stored_changes_nothing_whatever_the_order_and_notation():
    wanted = request(tax_id="7701234567", phones=[("8 916 222-22-22", None),
                                                  ("+7 916 111-11-11", " Иван ")],
                     number_ranges=["+7 495 100-"])
    changes = client_changes(stored_client(), wanted, OWNER)
    assert changes.fields == []


def test_only_what_differs_changes_and_what_is_left_out_stays():
    changes = client_changes(stored_client(), request(name="Ромашка 2"), KEEP)
    assert (changes.fields, changes.columns) == (["name"], {"name": "Ромашка 2"})
    contact = client_changes(stored_client(), request(
        phones=[("+79161111111", "Пётр"), ("+79162222222", None)]), KEEP)
    assert contact.fields == ["phones"]
    cleared = client_changes(stored_client(), request(tax_id=None, number_ranges=[]), None)
    assert cleared.fields == ["tax_id", "number_ranges", "owner_email"]
    assert (cleared.columns, cleared.number_ranges, cleared.owner) == ({"tax_id": None}, (),
                                                                       None)


def test_the_same_owner_again_is_no_change_and_another_one_is():
    assert client_changes(stored_client(), request(), OWNER).fields == []
    other = uuid.uuid4()
    assert client_changes(stored_client(), request(), other).owner == other
    assert client_changes(stored_client(owner_id=None), request(), None).fields == []


def test_a_number_listed_twice_counts_once_and_the_first_bad_field_is_told():
    record = request(phones=[("+79161111111", "Иван"), ("8 916 111 11 11", "Пётр")])
    assert record.phones == (ClientPhone("+79161111111", "Иван"),)
    with pytest.raises(Refusal) as refused:
        request(name="", segment="x", phones=[("hello", None)])
    assert (refused.value.kind, refused.value.where) == ("invalid", "name")


def stored_employee(**kw: Any) -> StoredEmployee:
    return StoredEmployee(**{
        "employee_id": stable_id("employee", "anna@example.ru"), "email": "anna@example.ru",
        "name": "Anna", "department": Department.COMMERCIAL, "role": Role.AGENT,
        "extension": "101", "direct_number": None, "capacity": 10, "active": True,
        "on_leave": False, **kw})


def employee(**kw: Any):
    return employee_record("Anna@Example.ru", **{"name": "Anna", "department": "commercial",
                                                 "role": "agent", "region": "RU", **kw})


def test_an_employee_changes_only_in_what_the_request_gives_and_differs():
    assert employee().employee_id == stable_id("employee", "anna@example.ru")
    assert employee_changes(stored_employee(), employee(extension=101, capacity=None)) == {}
    assert employee_changes(stored_employee(), employee(role="Руководитель", on_leave=True,
                                                        extension=None)) == {
        "role": Role.HEAD, "extension": None, "on_leave": True}
    assert employee(capacity="5", active=None).given() == {
        "name": "Anna", "department": Department.COMMERCIAL, "role": Role.AGENT, "capacity": 5}


def test_an_outcome_counts_once():
    won = PostedOutcome("won", Decimal("1200000"), "RUB")
    assert reported_again(None, won) is False
    assert reported_again(ReportedOutcome("won", Decimal("1.2E+6"), "RUB"), won) is True
    assert reported_again(ReportedOutcome("won", values_known=False), won) is True
    for earlier in (ReportedOutcome("lost"), ReportedOutcome("won", Decimal("1"), "RUB")):
        with pytest.raises(Refusal) as refused:
            reported_again(earlier, won)
        assert (refused.value.kind, refused.value.where) == ("conflict", "outcome")
    with pytest.raises(Refusal, match="a value needs its currency"):
        posted_outcome("won", Decimal("10"), None)


def test_the_deal_closed_event_has_the_same_id_for_the_same_report():
    lead = LeadToClose(uuid.uuid4(), "office-1:a1", uuid.uuid4(), "open")
    first = deal_closed(lead, PostedOutcome("lost"), NOW)
    later = deal_closed(lead, PostedOutcome("lost"), NOW.replace(hour=11))
    assert first.event_id == later.event_id == stable_id("deal", lead.lead_id, "lost")
    assert (first.call_id, first.lead_id, first.outcome) == ("office-1:a1", lead.lead_id, "lost")


# --- the outcome use case, with the client base in memory -------------------------------


async def test_an_outcome_reported_twice_is_published_once():
    lead = LeadToClose(uuid.uuid4(), "office-1:a1", uuid.uuid4(), "open")
    leads, published = FakeClientBase(leads=[lead]), RecordingPublisher()
    deps = Lookup(clients=leads, publisher=published, rules=LookupRules())
    crm = integration("crm", frozenset({Scope.DEALS_WRITE}))
    won = PostedOutcome("won", Decimal("100"), "USD")
    assert (await service.report_outcome(deps, lead.lead_id, won, crm))[0] == "published"
    assert (await service.report_outcome(deps, lead.lead_id, won, crm))[0] == "unchanged"
    [(topic, event, key)] = [(t.name, e, k) for t, e, k in published.sent]
    assert (topic, event.outcome, key) == ("deals.closed", "won", str(lead.client_id).encode())
    assert [line[0] for line in leads.audit_lines] == ["deal.outcome"]
    with pytest.raises(Refusal) as unknown:
        await service.report_outcome(deps, uuid.uuid4(), won, crm)
    assert unknown.value.kind == "not_found"


async def test_a_client_upserted_twice_changes_once_and_takes_its_numbers_from_another():
    other = stored_client(client_id=uuid.uuid4(), external_id="c0", owner_id=None,
                          phones=(ClientPhone("+79161111111"),), number_ranges=())
    clients = FakeClientBase(clients=[other])
    deps = Lookup(clients=clients, publisher=RecordingPublisher(),
                  rules=LookupRules())
    crm = integration("crm", frozenset({Scope.CLIENTS_WRITE}))
    wanted = request(phones=[("+7 916 111-11-11", "Иван")])
    first = await service.upsert_client(deps, wanted, crm)
    assert (first.result, [(m.number, m.from_external_id) for m in first.moved or ()]) == (
        "created", [("+79161111111", "c0")])
    assert clients.clients["c1"].phones == (ClientPhone("+79161111111", "Иван"),)
    assert clients.clients["c0"].phones == ()
    assert (await service.upsert_client(deps, wanted, crm)).result == "unchanged"
    assert [line.action for line in clients.audit_lines] == ["client.upsert"]


async def test_a_refused_request_leaves_the_client_base_as_it_was_and_a_deleted_client_its_leads():
    anna = stored_employee()
    clients = FakeClientBase(employees=[anna], clients=[stored_client(owner_id=None)],
                             leads=[LeadToClose(uuid.uuid4(), "office-1:a1",
                                                stable_id("client", "c1"), "open")])
    deps = Lookup(clients=clients, publisher=RecordingPublisher(),
                  rules=LookupRules())
    operator = person(uuid.uuid4(), "olga@example.ru", "Olga", Department.CLIENT, Role.AGENT)
    new_and_owned = client_record("c2", name="Лютик", segment="corporate", region="RU",
                                  owner_email=anna.email)
    with pytest.raises(NotAllowed):  # once the client is made, before it is given its owner
        await service.upsert_client(deps, new_and_owned, operator)
    assert (list(clients.clients), clients.audit_lines) == (["c1"], [])
    crm = integration("crm", frozenset({Scope.CLIENTS_WRITE}))
    assert await service.delete_client(deps, "c1", crm) == (stable_id("client", "c1"), 1)
    assert clients.clients == {} and [lead.client_id for lead in clients.leads.values()] == [None]
