"""What HTTP endpoints depend on to know who is asking, and the sign-in endpoints for people.

- `Guard(broker).allow(*scopes)`: a FastAPI dependency that answers 401 without a principal
  (no or an unknown, expired or revoked token or session), 403 with one that lacks a scope.
  A principal comes from `Authorization: Bearer <token>` (a person's or an integration's) or,
  for people in the browser, from the session cookie; a change made with a session cookie
  needs its CSRF token in `X-CSRF-Token` (or the form field `csrf_token`, see `csrf_of`).
- `session_routes(broker)`: `POST /v1/session` signs a person in with e-mail and password
  (rate-limited per account and per address; the same answer for an unknown e-mail and a
  wrong password), `GET` says who is signed in, `DELETE` signs out, `POST
  /v1/session/everywhere` ends every session of the person, `POST /v1/invitations/{token}`
  sets a password with a one-time link. The address of the rate limit is the peer's, or the
  `X-Forwarded-For` of a proxy uvicorn trusts (`FORWARDED_ALLOW_IPS`, by default 127.0.0.1).
Errors are `{"error", "where"}` (`ErrorAnswer`), declared in each endpoint's OpenAPI.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException

from shared.access.principals import Principal, Scope
from shared.access.credentials import (SESSION_TOKEN, new_password_hash, new_token,
                                      password_matches, password_problem, token_hash)
from shared.access.store import AccessStore
from shared.events import utcnow
from shared.settings import AccessSettings
from shared.wiring import Dependencies

SESSION_COOKIE = "sb_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ErrorAnswer(BaseModel):
    """Every error answer of the services' HTTP APIs."""

    error: str = Field(description="What was wrong, in words.",
                       examples=["a bearer token is required"])
    where: str | None = Field(default=None, description="Where: the field, header or part.",
                              examples=["Authorization"])


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of an endpoint that answers these error statuses."""
    words = {400: "Bad request", 401: "No valid credentials", 403: "Not allowed",
             404: "Not found", 405: "Method not allowed", 409: "Conflict",
             413: "Body too large", 422: "A field is not valid", 429: "Too many attempts",
             503: "Not ready; retry"}
    return {status: {"model": ErrorAnswer, "description": words.get(status, "Error")}
            for status in statuses}


class Refused(Exception):
    def __init__(self, status: int, error: str, where: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.where, self.headers = status, error, where, headers


async def refused_answer(_: Request, refused: Exception) -> JSONResponse:
    assert isinstance(refused, Refused)
    return JSONResponse({"error": refused.error, "where": refused.where},
                        status_code=refused.status, headers=refused.headers)


async def invalid_request_answer(_: Request, invalid: Exception) -> JSONResponse:
    """FastAPI's own validation of a body or parameters, in the error model; the input itself
    is not echoed (a sign-in body holds a password)."""
    assert isinstance(invalid, RequestValidationError)
    first = next(iter(invalid.errors()), {})
    loc = [str(part) for part in first.get("loc", ())]
    where = ("body" if first.get("type") == "json_invalid"
             else ".".join(loc[1:]) or ".".join(loc) or None)
    return JSONResponse({"error": first.get("msg", "the request is not valid"), "where": where},
                        status_code=422)


async def http_error_answer(_: Request, error: Exception) -> JSONResponse:
    """Starlette's own answers (no such path, a method the path does not take) in the model."""
    assert isinstance(error, HTTPException)
    return JSONResponse({"error": str(error.detail), "where": None},
                        status_code=error.status_code, headers=error.headers)


def install_refusals(app: FastAPI) -> None:
    """Every error answer of a service's app is the error model: a `Refused`, FastAPI's
    validation (422) and Starlette's own (400, 404, 405); the OpenAPI document says so."""
    app.add_exception_handler(Refused, refused_answer)
    app.add_exception_handler(RequestValidationError, invalid_request_answer)
    app.add_exception_handler(HTTPException, http_error_answer)
    _framework_errors_declared(app)


def _framework_errors_declared(app: FastAPI) -> None:
    """What the framework answers before an endpoint runs, declared on every endpoint it can
    happen to, in the error model: FastAPI's 422 (it declares its own body on every endpoint
    with parameters that has not declared 422 itself), its 400 for a body it cannot read
    (bytes that are not UTF-8, a broken form), and Starlette's 404 for a path parameter that
    holds a `/` (the path then names no endpoint). And two fixes of FastAPI's document for an
    endpoint that takes several methods: each operation gets its own id (FastAPI gives them
    all the first method's), and a GET takes no body."""
    generate = app.openapi
    done = False

    def openapi() -> dict[str, Any]:
        nonlocal done
        schema = generate()
        if done:
            return schema

        def answer(description: str) -> dict[str, Any]:
            return {"description": description, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}}

        for path in schema.get("paths", {}).values():
            ids = [op.get("operationId") for op in path.values() if isinstance(op, dict)]
            for method, operation in path.items():
                if not isinstance(operation, dict):
                    continue
                given = operation.get("operationId")
                if given and ids.count(given) > 1:
                    operation["operationId"] = re.sub(
                        r"_(get|put|post|delete|options|head|patch|trace)$", "", given
                    ) + f"_{method}"
                if method in ("get", "head"):
                    operation.pop("requestBody", None)
                responses = operation.setdefault("responses", {})
                if "HTTPValidationError" in str(responses.get("422", "")):
                    responses["422"] = answer("A field is not valid")
                if "requestBody" in operation:
                    responses.setdefault("400", answer("The body cannot be read"))
                if any(p.get("in") == "path" for p in operation.get("parameters", ())):
                    responses.setdefault("404", answer("Not found"))
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorAnswer", ErrorAnswer.model_json_schema())
        if "HTTPValidationError" not in str(schema.get("paths")):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        done = True
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


@dataclass(frozen=True)
class Access(Dependencies):
    """Who is asking, for a service's HTTP endpoints; built by its `main.resources()`."""

    store: AccessStore
    settings: AccessSettings


_bearer = HTTPBearer(auto_error=False,
                     description="A token from `switchboard token EMAIL` (a person) or "
                     "`switchboard integration add NAME` (an integration).")


class Guard:
    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    def principal(self) -> Callable[..., Awaitable[Principal]]:
        """Any principal at all."""
        return self._dependency(())

    def allow(self, *scopes: Scope) -> Callable[..., Awaitable[Principal]]:
        """A principal that may every one of `scopes` (403 names the first it may not)."""
        return self._dependency(scopes)

    def _dependency(self, scopes: tuple[Scope, ...]) -> Callable[..., Awaitable[Principal]]:
        broker = self.broker

        async def principal(request: Request,
                            credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
                            ) -> Principal:
            access = Access.of(broker)
            found = await _authenticated(access, request, credentials)
            for scope in scopes:
                if not found.may(scope):
                    raise Refused(403, f"{found.display_name} may not {scope.value}", "scope")
            request.state.principal = found
            return found

        return principal


async def _authenticated(access: Access, request: Request,
                         credentials: HTTPAuthorizationCredentials | None) -> Principal:
    now = utcnow()
    if credentials is not None:
        found = await access.store.token_principal(token_hash(credentials.credentials), now)
        if found is None:
            raise Refused(401, "the token is not valid (unknown, expired or revoked)",
                          "Authorization", {"WWW-Authenticate": "Bearer"})
        return found
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Refused(401, "a bearer token or a signed-in session is required", "Authorization",
                      {"WWW-Authenticate": "Bearer"})
    session = await access.store.session(
        token_hash(cookie), now, timedelta(minutes=access.settings.session_idle_minutes))
    if session is None:
        raise Refused(401, "the session has ended; sign in again", "session",
                      {"WWW-Authenticate": "Bearer"})
    if request.method not in SAFE_METHODS:
        given = await csrf_of(request)
        if not given or not hmac.compare_digest(given, session.csrf_token):
            raise Refused(403, "a change needs the page's CSRF token", CSRF_HEADER)
    request.state.csrf_token = session.csrf_token
    return session.principal


async def csrf_of(request: Request) -> str | None:
    """The CSRF token a change came with: the header (htmx, scripts) or a form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


# --- sign-in -------------------------------------------------------------------------------


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=320, examples=["olga@example.com"])
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("email")
    @classmethod
    def printable(cls, email: str) -> str:
        # PostgreSQL text cannot hold a NUL; no address has a control character.
        if any(ord(c) < 32 or ord(c) == 127 for c in email):
            raise ValueError("an e-mail address has no control characters")
        return email


class NewPassword(BaseModel):
    password: str = Field(min_length=1, max_length=1024)


class SignedIn(BaseModel):
    name: str = Field(description="The person's name.")
    email: str
    roles: list[str] = Field(description="operator, negotiator, head, admin.")
    locale: str = Field(description="ru or en.")
    csrf_token: str = Field(description=f"Send it as {CSRF_HEADER} with every change.")


class SignedOut(BaseModel):
    sessions_ended: int


def _signed_in(principal: Principal, csrf_token: str) -> SignedIn:
    return SignedIn(name=principal.display_name, email=principal.name,
                    roles=sorted(r.value for r in principal.roles), locale=principal.locale,
                    csrf_token=csrf_token)


async def sign_in(access: Access, email: str, password: str, address: str | None
                  ) -> tuple[Principal, str, str]:
    """(principal, session cookie value, CSRF token), or `Refused`: 429 past the rate limit,
    401 for a wrong password and an unknown e-mail alike.

    The attempt is counted as a failure before its password is checked, so parallel guesses
    see each other: of any number at once, at most the limit's worth get a password check. A
    refused attempt is then uncounted (the wait runs from the last real failure), a sign-in
    clears its account's failures and takes its own attempt off its address."""
    settings, now = access.settings, utcnow()
    account_key, address_key = f"account:{email.strip().lower()}", f"address:{address}"
    attempt = [account_key, address_key]
    counted = await access.store.count_attempt(
        attempt, now, now - timedelta(minutes=settings.sign_in_window_minutes))
    if (counted.get(account_key, 0) > settings.sign_in_failures_per_account
            or counted.get(address_key, 0) > settings.sign_in_failures_per_address):
        await access.store.uncount_attempt(attempt, now)
        raise Refused(429, f"too many failed sign-ins; try again in "
                      f"{settings.sign_in_window_minutes} minutes", "email",
                      {"Retry-After": str(settings.sign_in_window_minutes * 60)})
    account = await access.store.account(email)
    if not await password_matches(account[1] if account else None, password) or account is None:
        await access.store.audit(None, "session.refused", email.strip().lower())
        raise Refused(401, "wrong e-mail or password", "password")
    principal = account[0]
    assert principal.employee_id is not None
    await access.store.clear_failures(account_key)
    await access.store.uncount_attempt([address_key], now)
    cookie, csrf = new_token(SESSION_TOKEN), secrets.token_urlsafe(24)
    await access.store.open_session(token_hash(cookie), principal.employee_id, csrf, now,
                                    now + timedelta(hours=settings.session_max_hours), address)
    await access.store.audit(principal, "session.open", principal.name)
    return principal, cookie, csrf


def set_session_cookie(response: Response, settings: AccessSettings, cookie: str) -> None:
    response.set_cookie(SESSION_COOKIE, cookie, max_age=settings.session_max_hours * 3600,
                        httponly=True, samesite="lax", secure=settings.cookie_secure, path="/")


def session_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter(tags=["sign-in"])
    guard = Guard(broker)
    access_of = Access.provider(broker)

    @api.post("/v1/session", responses=errors(401, 422, 429))
    async def open_session(form: SignIn, request: Request, response: Response,
                           access: Access = Depends(access_of)) -> SignedIn:
        """Sign in with e-mail and password: sets the session cookie."""
        address = request.client.host if request.client else None
        principal, cookie, csrf = await sign_in(access, form.email, form.password, address)
        set_session_cookie(response, access.settings, cookie)
        return _signed_in(principal, csrf)

    @api.get("/v1/session", responses=errors(401))
    async def who_is_signed_in(request: Request,
                               principal: Principal = Depends(guard.principal())) -> SignedIn:
        return _signed_in(principal, getattr(request.state, "csrf_token", ""))

    @api.delete("/v1/session", responses=errors(401, 403))
    async def close_session(request: Request, response: Response,
                            principal: Principal = Depends(guard.principal()),
                            access: Access = Depends(access_of)) -> SignedOut:
        """Sign out of this session."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await access.store.close_session(token_hash(cookie), utcnow())
        response.delete_cookie(SESSION_COOKIE, path="/")
        await access.store.audit(principal, "session.close", principal.name)
        return SignedOut(sessions_ended=1 if cookie else 0)

    @api.post("/v1/session/everywhere", responses=errors(401, 403))
    async def close_every_session(response: Response,
                                  principal: Principal = Depends(guard.principal()),
                                  access: Access = Depends(access_of)) -> SignedOut:
        """Sign out everywhere: every session of this person ends."""
        assert principal.employee_id is not None or principal.kind.value == "integration"
        ended = (await access.store.close_all_sessions(principal.employee_id, utcnow())
                 if principal.employee_id else 0)
        response.delete_cookie(SESSION_COOKIE, path="/")
        await access.store.audit(principal, "session.close_everywhere", principal.name,
                                 {"sessions": ended})
        return SignedOut(sessions_ended=ended)

    @api.post("/v1/invitations/{token}", responses=errors(404, 422))
    async def accept_invitation(token: str, form: NewPassword,
                                access: Access = Depends(access_of)) -> dict[str, str]:
        """Set a password with a one-time link from `switchboard user invite EMAIL`; the
        person's sessions end."""
        problem = password_problem(form.password)
        if problem:
            raise Refused(422, problem, "password")
        used = await access.store.use_invitation(token_hash(token),
                                                 await new_password_hash(form.password),
                                                 utcnow())
        if used is None:
            raise Refused(404, "this link is unknown, used or expired", "token")
        await access.store.audit(None, "password.set", used.email, {"by": "invitation"})
        return {"email": used.email, "status": "password set"}

    return api
