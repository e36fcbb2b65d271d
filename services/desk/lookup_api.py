"""The lookup's client-base API, as the desk calls it for a person: with the person's own
session (cookie and CSRF token), so the lookup checks their rights and audits them, not the
desk's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from shared.access.http import CSRF_HEADER, SESSION_COOKIE


@dataclass(frozen=True)
class OnBehalf:
    """The signed-in person a change is made for."""

    session_cookie: str
    csrf_token: str

    def headers(self) -> dict[str, str]:
        return {CSRF_HEADER: self.csrf_token, "Cookie": f"{SESSION_COOKIE}={self.session_cookie}"}


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    error: str | None = None
    where: str | None = None
    body: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def call_api(http: httpx.AsyncClient, method: str, path: str, person: OnBehalf,
                   json: dict[str, Any] | None = None, *, service: str) -> ApiAnswer:
    """A request of another service's API for the person; its refusal as the service worded
    it (`error`, `where`), or 503 when it did not answer."""
    try:
        answer = await http.request(method, path, json=json, headers=person.headers())
    except httpx.HTTPError as e:
        return ApiAnswer(503, f"the {service} did not answer ({type(e).__name__})")
    try:
        payload = answer.json()
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    if 200 <= answer.status_code < 300:
        return ApiAnswer(answer.status_code, body=payload)
    where = payload.get("where")
    return ApiAnswer(answer.status_code,
                     str(payload.get("error") or answer.reason_phrase or answer.status_code),
                     where if isinstance(where, str) else None, payload)


class LookupApi:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def put_client(self, external_id: str, body: dict[str, Any], person: OnBehalf
                         ) -> ApiAnswer:
        return await call_api(self._http, "PUT", f"/v1/clients/{quote(external_id, safe='')}",
                              person, body, service="client base")

    async def post_outcome(self, lead_id: uuid.UUID, body: dict[str, Any], person: OnBehalf
                           ) -> ApiAnswer:
        """A lead's outcome, published by the lookup to deals.closed (once: the same report
        again answers 200 and publishes nothing; another outcome is refused, 409)."""
        return await call_api(self._http, "POST", f"/v1/leads/{lead_id}/outcome", person, body,
                              service="client base")

    async def close(self) -> None:
        await self._http.aclose()
