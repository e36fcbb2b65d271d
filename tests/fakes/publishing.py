"""The Publisher in memory, for tests that run use cases and handlers without Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared import topics
from shared.events import Event
from shared.kafka import PublisherPort


class RecordingPublisher(PublisherPort):
    """Keeps what it is given to publish; `fail` makes the next publish raise (Kafka away)."""

    def __init__(self) -> None:
        self.sent: list[tuple[topics.Topic, Event, bytes | None]] = []
        self.fail = False

    async def publish(self, topic: topics.Topic, event: Event, *, key: bytes | None = None
                      ) -> None:
        if self.fail:
            raise ConnectionError("Kafka is away")
        self.sent.append((topic, event, key))

    async def confirm(self) -> None:
        """What it keeps is kept at once: nothing to wait for."""

    @asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """Each publish is kept at once, so a block has nothing left to confirm at its end."""
        yield
