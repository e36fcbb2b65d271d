"""The lookup's client-base API, as the desk calls it for a person: with the person's own
session (cookie and CSRF token), so the lookup checks their rights and audits them, not the
desk's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from shared.access.http import CSRF_HEADER, SESSION_COOKIE


@dataclass(frozen=True)
class OnBehalf:
    """The signed-in person a change is made for."""

    session_cookie: str
    csrf_token: str


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    error: str | None = None
    where: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class LookupApi:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def put_client(self, external_id: str, body: dict[str, Any], person: OnBehalf
                         ) -> ApiAnswer:
        try:
            answer = await self._http.put(
                f"/v1/clients/{quote(external_id, safe='')}", json=body,
                headers={CSRF_HEADER: person.csrf_token,
                         "Cookie": f"{SESSION_COOKIE}={person.session_cookie}"})
        except httpx.HTTPError as e:
            return ApiAnswer(503, f"the client base did not answer ({type(e).__name__})")
        if 200 <= answer.status_code < 300:
            return ApiAnswer(answer.status_code)
        try:
            error = answer.json()
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {}
        return ApiAnswer(answer.status_code,
                         str(error.get("error") or answer.reason_phrase or answer.status_code),
                         error.get("where") if isinstance(error.get("where"), str) else None)

    async def close(self) -> None:
        await self._http.aclose()
