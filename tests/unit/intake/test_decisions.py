"""Ring-time request-reply: waiters resolved by the call's decision, whoever publishes it."""

import asyncio
import uuid


from services.intake.decisions import RoutedCalls
from shared.events import CallRouted, Destination, Stage, utcnow


def routed(call_id: str, stage: Stage = Stage.RING) -> CallRouted:
    return CallRouted(event_id=uuid.uuid4(), occurred_at=utcnow(), call_id=call_id,
                      caller="+79161234567", client_id=None,
                      destination=Destination.CLIENT_DEPARTMENT,
                      employee_id=None, reasons=["unknown caller"], stage=stage)


async def test_a_waiter_registered_before_the_publish_gets_the_decision():
    calls = RoutedCalls()
    future = calls.expect("pbx:1")
    decision = routed("pbx:1")
    asyncio.get_running_loop().call_later(0.01, calls.decided, decision)
    assert await calls.wait("pbx:1", future, 1.0) == decision
    assert calls.waiting == 0


async def test_past_the_deadline_the_wait_answers_none_and_forgets_the_waiter():
    calls = RoutedCalls()
    future = calls.expect("pbx:2")
    assert await calls.wait("pbx:2", future, 0.01) is None
    assert calls.waiting == 0
    calls.decided(routed("pbx:2"))  # the decision still lands: remembered for a repeat
    assert calls.known("pbx:2") is not None


async def test_a_repeated_request_gets_the_same_decision_at_once():
    calls = RoutedCalls()
    decision = routed("pbx:3")
    calls.decided(decision)
    future = calls.expect("pbx:3")
    assert future.done() and future.result() == decision


async def test_only_ring_time_decisions_answer_a_ringing_call():
    calls = RoutedCalls()
    future = calls.expect("pbx:4")
    calls.decided(routed("pbx:4", Stage.QUALIFIED))
    assert not future.done()
    assert await calls.wait("pbx:4", future, 0.01) is None


async def test_two_waiters_for_one_call_both_get_it_and_memory_is_bounded():
    calls = RoutedCalls(remembered=2)
    first, second = calls.expect("pbx:5"), calls.expect("pbx:5")
    calls.decided(routed("pbx:5"))
    assert first.result() == second.result()
    calls.decided(routed("pbx:6"))
    calls.decided(routed("pbx:7"))
    assert calls.known("pbx:5") is None and calls.known("pbx:7") is not None
