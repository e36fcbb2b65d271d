"""The fan-out of one replica (a slow browser loses updates, not the others) and what a change
does to an operator's page: insert, replace in place, delete; a card rendered once for all."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from services.desk.live import (RESYNC, AlertRaised, CallChanged, DealDone, Hub, InboxArrived,
                                LeadDecided, LeadsOfCalls, Live)
from services.desk.policy import DeskRules, dom_id, heard
from services.desk.screens import OperatorScreen
from shared import topics
from shared.events import (DealClosed, Department, Destination, LeadAssigned,
                           ShoppingAroundDetected, ShoppingRule, Stage, Strategy, utcnow)
from tests.component.wiring import WEB
from tests.unit.desk.samples import (CLIENT, NOW, OWNER, enriched, negotiator, operator,
                                     qualified, routed)


@dataclass
class Record:
    topic: str
    value: bytes
    partition: int = 0
    offset: int = 0


def now_enriched(call_id: str, **kw):
    return enriched(call_id, started=utcnow(), **kw)


async def test_every_stream_gets_every_change():
    hub = Hub(queue_size=4)
    change = CallChanged(heard(None, now_enriched("office-1:x")))
    with hub.connect() as first, hub.connect() as second:
        assert hub.connected == 2
        hub.publish(change)
        assert await first.next(0.1) is change and await second.next(0.1) is change
        assert await first.next(0.01) is None
    assert hub.connected == 0


async def test_a_slow_stream_loses_its_updates_and_is_told_to_draw_again():
    hub = Hub(queue_size=2)
    changes = [CallChanged(heard(None, now_enriched(f"office-1:{i}"))) for i in range(5)]
    with hub.connect() as slow, hub.connect() as reading:
        for change in changes:
            hub.publish(change)
            assert await reading.next(0.1) is change  # the other stream is not held up
        assert await slow.next(0.1) is RESYNC
        assert await slow.next(0.01) in (changes[-1], None)


def test_the_tail_records_become_changes_of_the_calls():
    live = Live(Hub(queue_size=10))
    with live.hub.connect() as stream:
        live.on_record(Record(topics.CALLS_ENRICHED.name,
                              now_enriched("office-1:t").model_dump_json().encode()))
        live.on_record(Record(topics.CALLS_ROUTED.name,
                              routed("office-1:t").model_dump_json().encode()))
        live.on_record(Record(topics.CALLS_ROUTED.name, b"{not json"))
        live.on_record(Record("elsewhere", b"{}"))
        call = live.recent.get("office-1:t")
        assert call is not None and call.enriched is not None and call.routed is not None
        assert stream._queue.qsize() == 2


def screen() -> OperatorScreen:
    deps = SimpleNamespace(rules=DeskRules(card_lifetime=timedelta(minutes=30)))
    return OperatorScreen(deps, WEB)  # type: ignore[arg-type]


def test_a_change_inserts_replaces_then_deletes_the_card():
    page, me, shown = screen(), operator(), set()
    call_id = f"office-1:{uuid.uuid4().hex[:6]}"
    ringing = heard(None, now_enriched(call_id, known=False))
    inserted = page.update(me, "tok", CallChanged(ringing), shown)
    assert inserted.startswith('<div hx-swap-oob="afterbegin:#cards"><article')
    assert call_id in shown and 'value="tok"' in inserted
    decided = heard(ringing, routed(call_id))
    replaced = page.update(me, "tok", CallChanged(decided), shown)
    assert replaced.startswith(f'<article hx-swap-oob="true" id="{dom_id(call_id)}"')
    assert 'hx-preserve="true"' in replaced  # what the person is typing stays
    gone = page.update(me, "tok", CallChanged(heard(decided, qualified(call_id))), shown)
    assert gone == f'<div id="{dom_id(call_id)}" hx-swap-oob="delete"></div>'
    assert call_id not in shown
    assert page.update(me, "tok", CallChanged(heard(decided, qualified(call_id))), shown) is None


def test_a_call_routed_away_leaves_the_desk_and_never_reaches_a_negotiator():
    page, shown = screen(), set()
    call_id = "office-1:away"
    ringing = heard(None, now_enriched(call_id))
    assert page.update(negotiator(), "n", CallChanged(ringing), set()) is None
    page.update(operator(), "tok", CallChanged(ringing), shown)
    away = heard(ringing, routed(call_id, Destination.OWNER, employee=OWNER))
    assert "delete" in page.update(operator(), "tok", CallChanged(away), shown)


def test_a_card_is_rendered_once_per_language_and_gets_each_screens_token():
    page = screen()
    change = CallChanged(heard(None, now_enriched("office-1:shared", known=False)))
    first = page.update(operator(), "first-token", change, set())
    second = page.update(operator(employee_id=uuid.uuid4()), "second-token", change, set())
    english = page.update(operator(locale="en"), "third-token", change, set())
    assert len(change.rendered) == 2
    assert 'value="first-token"' in first and "second-token" not in first
    assert 'value="second-token"' in second and "Новый номер" in second
    assert "New number" in english


# --- the sales screens' events ------------------------------------------------------------


class LeadsFound(LeadsOfCalls):
    """The lead of a call appears after a few looks (the assignment is a moment behind)."""

    def __init__(self, lead_id: uuid.UUID, waiting: bool, after: int = 2) -> None:
        self.lead_id, self.waiting, self.after, self.looks = lead_id, waiting, after, 0

    async def lead_of_call(self, call_id: str) -> tuple[uuid.UUID, bool] | None:
        self.looks += 1
        return (self.lead_id, self.waiting) if self.looks > self.after else None


def qualified_route(call_id: str, destination: Destination = Destination.COMMERCIAL_DEPARTMENT):
    return routed(call_id, destination, stage=Stage.QUALIFIED)


async def test_a_lead_that_reaches_the_inbox_is_told_once_the_database_has_it():
    lead_id = uuid.uuid4()
    found = LeadsFound(lead_id, waiting=True)
    live = Live(Hub(queue_size=10), leads=found)
    with live.hub.connect() as stream:
        live.hear(qualified_route("office-1:big"))
        change = await stream.next(2.0)
        assert change == InboxArrived("office-1:big", lead_id) and found.looks == 3
    await live.close()


async def test_a_lead_kept_at_once_or_a_ring_decision_tells_the_inbox_nothing():
    kept = LeadsFound(uuid.uuid4(), waiting=False, after=0)
    live = Live(Hub(queue_size=10), leads=kept)
    with live.hub.connect() as stream:
        live.hear(qualified_route("office-1:kept"))
        live.hear(routed("office-1:ring", Destination.COMMERCIAL_DEPARTMENT))  # ring stage
        live.hear(qualified_route("office-1:desk", Destination.CLIENT_DEPARTMENT))
        first = await stream.next(0.5)
        assert isinstance(first, CallChanged)  # the ring decision's card change, nothing else
        assert await stream.next(0.3) is None
    assert kept.looks == 1
    await live.close()


def test_leads_outcomes_and_alerts_become_changes_and_an_outcome_is_remembered():
    live = Live(Hub(queue_size=10))
    lead_id = uuid.uuid4()
    events = [
        (topics.LEADS_ASSIGNED, LeadAssigned(
            event_id=uuid.uuid4(), occurred_at=NOW, call_id="office-1:l", lead_id=lead_id,
            client_id=None, employee_id=OWNER.employee_id, employee_name=OWNER.name,
            department=Department.COMMERCIAL, strategy=Strategy.HEAD_ASSIGNED)),
        (topics.DEALS_CLOSED, DealClosed(
            event_id=uuid.uuid4(), occurred_at=NOW, call_id="office-1:l", lead_id=lead_id,
            outcome="won", final_value="100", currency="RUB")),
        (topics.ALERTS_SHOPPING_AROUND, ShoppingAroundDetected(
            event_id=uuid.uuid4(), occurred_at=NOW, call_id="office-1:s", client=CLIENT,
            owner=OWNER, reached=None, rules=[ShoppingRule.OTHER_THAN_OWNER],
            reasons=["owned by Anna Ivanova but called a general line"], history=[],
            notify=[OWNER.employee_id])),
    ]
    with live.hub.connect() as stream:
        for topic, event in events:
            live.on_record(Record(topic.name, event.model_dump_json().encode()))
        changes = [stream._queue.get_nowait() for _ in range(3)]
    assert [type(c) for c in changes] == [LeadDecided, DealDone, AlertRaised]
    assert changes[2].alert.reasons[0].key == "shopping.other_than_owner_general"
    reported = live.outcomes.get(lead_id)
    assert reported is not None and reported.outcome == "won" and str(reported.final_value) == "100"


def test_the_operator_screen_ignores_what_is_not_a_call():
    closed = DealClosed(event_id=uuid.uuid4(), occurred_at=NOW, call_id="office-1:l",
                        lead_id=uuid.uuid4(), outcome="lost")
    assert screen().update(operator(), "tok", DealDone(closed), set()) is None
