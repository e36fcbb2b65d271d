"""Concurrent round trips grouped (`shared.grouping.Grouped`): alone at low load, together
under load, each caller with its own result or the round's failure."""

from __future__ import annotations

import asyncio

import pytest

from shared.grouping import Grouped


class Recorder:
    def __init__(self) -> None:
        self.rounds: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail_next = False

    async def run_all(self, items):
        self.rounds.append(list(items))
        if len(self.rounds) == 1:
            await self.release.wait()  # the first round stays in flight until released
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the database is away")
        return [item * 10 for item in items]


async def test_one_caller_goes_alone_at_once():
    recorder = Recorder()
    recorder.release.set()
    grouped = Grouped(recorder.run_all)
    assert await grouped(1) == 10
    assert await grouped(2) == 20
    assert recorder.rounds == [[1], [2]]


async def test_callers_arriving_during_a_round_go_together_in_the_next():
    recorder = Recorder()
    grouped = Grouped(recorder.run_all)
    first = asyncio.ensure_future(grouped(1))
    await asyncio.sleep(0)
    others = [asyncio.ensure_future(grouped(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == 10
    assert await asyncio.gather(*others) == [20, 30, 40]
    assert recorder.rounds == [[1], [2, 3, 4]]


async def test_a_failed_round_fails_its_callers_and_the_next_round_works():
    recorder = Recorder()
    recorder.release.set()
    recorder.fail_next = True
    grouped = Grouped(recorder.run_all)
    with pytest.raises(ConnectionError):
        await grouped(1)
    assert await grouped(2) == 20


async def test_a_caller_that_gives_up_leaves_the_others_their_results():
    recorder = Recorder()
    grouped = Grouped(recorder.run_all)
    first = asyncio.ensure_future(grouped(1))
    await asyncio.sleep(0)
    quitter, stayer = asyncio.ensure_future(grouped(2)), asyncio.ensure_future(grouped(3))
    await asyncio.sleep(0)
    quitter.cancel()
    recorder.release.set()
    assert await first == 10 and await stayer == 30
    assert quitter.cancelled()
