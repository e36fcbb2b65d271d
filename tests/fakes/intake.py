"""The intake's accepted calls, in memory."""

from __future__ import annotations

from collections.abc import Sequence

from services.intake.service import AcceptedCallsPort, Claim
from shared.events import CallReceived


class FakeAcceptedCalls(AcceptedCallsPort):
    """Publishes a call once: a call marked published is a duplicate from then on."""

    def __init__(self) -> None:
        self.published: set[str] = set()

    async def claim(self, call: CallReceived) -> Claim:
        return Claim.DONE if call.call_id in self.published else Claim.PUBLISH

    async def mark_published(self, call: CallReceived) -> None:
        self.published.add(call.call_id)

    async def claim_all(self, calls: Sequence[CallReceived]) -> list[Claim]:
        claims, claimed = [], set()
        for call in calls:
            if call.call_id in self.published:
                claims.append(Claim.DONE)
            elif call.call_id in claimed:
                claims.append(Claim.BUSY)
            else:
                claimed.add(call.call_id)
                claims.append(Claim.PUBLISH)
        return claims

    async def mark_all_published(self, calls: Sequence[CallReceived]) -> None:
        self.published.update(call.call_id for call in calls)
