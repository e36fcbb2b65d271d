"""The client base, in memory."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.lookup.policy import CallerRecord
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

    async def find_employee_by_line(self, dialed: str) -> EmployeeRef | None:
        return None

    async def heads_of_sales(self) -> list[uuid.UUID]:
        return list(self.heads)

    async def record_contact(self, call_id: str, client_id: uuid.UUID,
                             employee_id: uuid.UUID | None, caller: str | None, dialed: str,
                             occurred_at: datetime) -> None:
        self.contacts.setdefault(call_id, client_id)
