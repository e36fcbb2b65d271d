"""The assignment's inbox API, as the desk calls it for the head of sales: with the person's
own session, so the assignment checks that they work the inbox and audits them."""

from __future__ import annotations

import uuid

import httpx

from services.desk.lookup_api import ApiAnswer, OnBehalf, call_api


class AssignmentApi:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def inbox(self, person: OnBehalf) -> ApiAnswer:
        """`GET /v1/inbox`: the leads waiting for the head (`body["leads"]`)."""
        return await call_api(self._http, "GET", "/v1/inbox", person, service="assignment")

    async def keep(self, lead_id: uuid.UUID, person: OnBehalf) -> ApiAnswer:
        return await call_api(self._http, "POST", f"/v1/leads/{lead_id}/keep", person,
                              service="assignment")

    async def assign(self, lead_id: uuid.UUID, employee_id: uuid.UUID, person: OnBehalf
                     ) -> ApiAnswer:
        return await call_api(self._http, "POST", f"/v1/leads/{lead_id}/assign", person,
                              {"employee_id": str(employee_id)}, service="assignment")

    async def close(self) -> None:
        await self._http.aclose()
