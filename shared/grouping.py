"""Concurrent requests' round trips, grouped: one statement for many callers.

`Grouped(run_all)` is called with one item and returns its result, like the single-item
operation it replaces; `run_all(items)` does the work for many at once and returns their
results in order. While a round is in flight, the items that arrive wait and go together in
the next round: at low load each item goes alone, at once (no timer, no added wait); under
load a round trip carries as many items as arrived during the previous one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Grouped(Generic[T, R]):
    def __init__(self, run_all: Callable[[Sequence[T]], Awaitable[Sequence[R]]]) -> None:
        self._run_all = run_all
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._rounds: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        result: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, result))
        if self._rounds is None:
            self._rounds = asyncio.create_task(self._run_rounds())
        return await result

    async def _run_rounds(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    results = await self._run_all([item for item, _ in group])
                except Exception as error:  # each caller gets the failure, as alone it would
                    for _, waiting in group:
                        if not waiting.done():
                            waiting.set_exception(error)
                    continue
                except BaseException:  # cancelled (shutting down): so are the callers
                    for _, waiting in [*group, *self._waiting]:
                        waiting.cancel()
                    raise
                for (_, waiting), value in zip(group, results, strict=True):
                    if not waiting.done():  # a caller that gave up (cancelled) is skipped
                        waiting.set_result(value)
        finally:
            self._rounds = None
