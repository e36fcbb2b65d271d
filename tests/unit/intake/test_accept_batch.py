"""A batch of PBX events accepted at once (`service.accept_all`): one claim for all, each call
published once, in order, a call another replica holds waited for where it stands."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace

from services.intake import service
from services.intake.service import Claim, Intake, IntakeRules
from shared import topics
from shared.batches import Batch, Item
from shared.events import CallerStatus, CallReceived
from shared.settings import IntakeSettings
from tests.fakes.intake import FakeAcceptedCalls
from tests.fakes.publishing import RecordingPublisher

NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)


def received(call_id: str) -> CallReceived:
    return CallReceived(event_id=uuid.uuid5(uuid.NAMESPACE_URL, call_id), occurred_at=NOW,
                        call_id=call_id, pbx="p", caller="+74950000001",
                        caller_raw="+74950000001", caller_status=CallerStatus.EXTERNAL,
                        dialed="+74951000000", started_at=NOW)


class HeldOnce(FakeAcceptedCalls):
    """`held` is being published by another replica: busy the first time it is claimed."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self.held, self.rounds = held, 0

    async def claim_all(self, calls: Sequence[CallReceived]) -> list[Claim]:
        self.rounds += 1
        claims = await super().claim_all(calls)
        return [Claim.BUSY if c.call_id == self.held and self.rounds == 1 else claim
                for c, claim in zip(calls, claims, strict=True)]


def batch_of(publisher, *calls):
    records = [SimpleNamespace(topic=topics.PBX_EVENTS.name, partition=0, offset=n,
                               value=b"{}", headers=()) for n in range(len(calls))]
    return (Batch(records, "intake", publisher),
            [Item(record, call) for record, call in zip(records, calls, strict=True)])


def wired(calls) -> Intake:
    return Intake(calls=calls, publisher=RecordingPublisher(),
                  rules=IntakeRules.from_settings(IntakeSettings()))


async def test_each_call_is_published_once_in_order_and_marked():
    deps = wired(FakeAcceptedCalls())
    a, b = received("p:a"), received("p:b")
    batch, items = batch_of(deps.publisher, a, b, a)  # `a` twice: Newchannel and DialBegin
    await service.accept_all(deps, batch, items)
    assert [event.call_id for _, event, _ in deps.publisher.sent] == ["p:a", "p:b"]
    assert deps.calls.published == {"p:a", "p:b"}
    await service.accept_all(deps, batch, items)  # the batch redelivered: nothing again
    assert len(deps.publisher.sent) == 2


async def test_a_call_another_replica_holds_is_waited_for_where_it_stands(monkeypatch):
    monkeypatch.setattr(service, "BUSY_PAUSE_SECONDS", 0.001)
    deps = wired(HeldOnce("p:a"))
    batch, items = batch_of(deps.publisher, received("p:a"), received("p:b"))
    await service.accept_all(deps, batch, items)
    # `p:b` of the same client did not overtake `p:a`
    assert [event.call_id for _, event, _ in deps.publisher.sent] == ["p:a", "p:b"]
    assert deps.calls.rounds == 2
