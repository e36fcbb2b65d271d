"""The client base, in memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.lookup.policy import CallerRecord, Contact
from services.lookup.service import ClientBasePort
from shared.events import EmployeeRef


class FakeClientBase(ClientBasePort):
    """Knows the callers it is given (number -> record) and no employee's line."""

    def __init__(self, known: dict[str, CallerRecord] | None = None,
                 heads: list[uuid.UUID] | None = None) -> None:
        self.known = known or {}
        self.heads = heads or []
        self.contacts: dict[str, uuid.UUID] = {}

    async def find_caller(self, number: str | None, call_id: str = "") -> CallerRecord:
        return self.known.get(number or "", CallerRecord())

    async def find_callers(self, calls: Sequence[tuple[str | None, str]]) -> list[CallerRecord]:
        return [await self.find_caller(number, call_id) for number, call_id in calls]

    async def find_employees_by_line(self, dialed: Sequence[str]) -> dict[str, EmployeeRef]:
        return {}

    async def heads_of_sales(self) -> list[uuid.UUID]:
        return list(self.heads)

    async def record_contacts(self, contacts: Sequence[Contact]) -> None:
        for contact in contacts:
            self.contacts.setdefault(contact.call_id, contact.client_id)
