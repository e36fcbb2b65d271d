"""Who may see and change what, on the real stack: every endpoint of every service behind the
shared guard (no credentials, the wrong role, an integration with and without the scope,
expired and revoked tokens) or, for the PBXs', behind their signatures, and no endpoint left
out of that matrix; people's sign-in on the lookup (the session cookie, CSRF, sign out, ended
sessions, one answer for an unknown e-mail and a wrong password, the rate limits per account
and per address, parallel guesses, invitation links), the audit log, and one error model in
every answer and OpenAPI document.

Each sign-in comes from its own address (`X-Forwarded-For`, which uvicorn takes from a proxy
on 127.0.0.1), so the per-address limit of one test, or of an earlier run, never meets another.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from fastapi.routing import iter_route_contexts

from shared.access.credentials import INVITATION_TOKEN, hash_password, new_token, token_hash
from shared.access.principals import INTEGRATION_IMPLIES, Scope
from switchboard.devstack import SERVICES, Services
from tests.conftest import CONNECTORS, Endpoints
from tests.support import (api_token, random_id, random_phone, seed_client, seed_employee,
                           signed)

pytestmark = pytest.mark.integration

DOMAIN = "access-it.example"  # the e-mails of this module's employees
PASSWORD = "correct horse battery staple"
SESSION_COOKIE = "sb_session"


@dataclass
class Stack:
    infra: Endpoints
    urls: dict[str, str]  # service -> its URL
    ids: dict[str, uuid.UUID] = field(default_factory=dict)  # who -> employee id
    tokens: dict[str, str] = field(default_factory=dict)  # who -> bearer token
    emails: dict[str, str] = field(default_factory=dict)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.infra.database_url)

    async def fetch(self, query: str, *args) -> list[asyncpg.Record]:
        conn = await self.connect()
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def execute(self, query: str, *args) -> None:
        conn = await self.connect()
        try:
            await conn.execute(query, *args)
        finally:
            await conn.close()

    async def person(self, who: str, *, department: str, role: str,
                     password: str | None = None, admin: bool = False) -> str:
        """A new employee of this module; their e-mail."""
        employee_id = uuid.uuid4()
        email = f"{who.replace(' ', '.')}.{employee_id.hex[:10]}@{DOMAIN}"
        conn = await self.connect()
        try:
            await seed_employee(conn, employee_id=employee_id, email=email, department=department,
                                role=role, name=f"{who.title()} {employee_id.hex[:4]}")
            if password is not None:
                await conn.execute("UPDATE employees SET password_hash = $2 "
                                   "WHERE employee_id = $1", employee_id, hash_password(password))
            if admin:
                await conn.execute("UPDATE employees SET admin = true WHERE employee_id = $1",
                                   employee_id)
        finally:
            await conn.close()
        self.ids[who], self.emails[who] = employee_id, email
        return email

    async def token(self, **kw) -> str:
        conn = await self.connect()
        try:
            return await api_token(conn, **kw)
        finally:
            await conn.close()

    async def audit(self, action: str, subject: str) -> list[asyncpg.Record]:
        return await self.fetch("SELECT * FROM audit_log WHERE action = $1 AND subject = $2 "
                                "ORDER BY audit_id", action, subject)


@pytest.fixture(scope="module")
async def stack(infra: Endpoints, services: Services) -> AsyncIterator[Stack]:
    found = Stack(infra, {name: s.url for name, s in services.running.items()})
    # Employees an earlier, interrupted run of this module left active.
    await found.execute("UPDATE employees SET active = false WHERE email LIKE $1", f"%@{DOMAIN}")
    for who, department, role in (("operator", "client", "agent"),
                                  ("negotiator", "commercial", "agent"),
                                  ("client head", "client", "head"),
                                  ("head", "commercial", "head"),
                                  ("admin", "client", "agent")):
        await found.person(who, department=department, role=role, admin=who == "admin")
        found.tokens[who] = await found.token(employee_id=found.ids[who])
    try:
        yield found
    finally:
        # No leftover head of sales or negotiator competes for a later test's leads.
        await found.execute("UPDATE employees SET active = false WHERE email LIKE $1",
                            f"%@{DOMAIN}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_error_model(response: httpx.Response) -> bool:
    answer = response.json()
    return isinstance(answer.get("error"), str) and "where" in answer


# ---------------------------------------------------------------------------- the guard


Body = Callable[["Stack"], dict | None]


def no_body(_: Stack) -> None:
    return None


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    route: str  # the path as the service declares it
    path: Callable[[], str]  # a path to ask (nothing here exists: an unknown number, lead...)
    scope: Scope | None  # None: any principal at all
    allowed: str  # a person who may
    refused: tuple[str, ...]  # people of the wrong role
    passes: int  # what the allowed person gets
    integration_passes: int  # what an integration with the scope gets
    body: Body = no_body
    refused_says: str = ""  # in the error a person of the wrong role gets


def new_external_id() -> str:
    return f"access-it-{random_id()}"


INBOX_REFUSED = ("negotiator", "client head")
# Agents keep the client base right (clients:write); only heads and administrators give a
# client another owner or remove one (owners:write), and only administrators change the staff.
AGENTS = ("operator", "negotiator")
NOT_ADMINS = ("operator", "negotiator", "client head", "head")
ENDPOINTS = {
    # Every person may read clients and the rules: only an integration can lack the scope.
    "callers": Endpoint("lookup", "GET", "/v1/callers/{phone}",
                        lambda: f"/v1/callers/{random_phone()}",
                        Scope.CLIENTS_READ, "operator", (), 404, 404),
    "client": Endpoint("lookup", "PUT", "/v1/clients/{external_id}",
                       lambda: f"/v1/clients/{new_external_id()}", Scope.CLIENTS_WRITE,
                       "operator", (), 201, 201,
                       body=lambda _: {"name": "Access IT", "segment": "corporate"}),
    "client with an owner": Endpoint(
        "lookup", "PUT", "/v1/clients/{external_id}", lambda: f"/v1/clients/{new_external_id()}",
        Scope.CLIENTS_WRITE, "head", AGENTS, 201, 201, refused_says="owners:write",
        body=lambda stack: {"name": "Access IT", "segment": "corporate",
                            "owner_email": stack.emails["negotiator"]}),
    "delete client": Endpoint("lookup", "DELETE", "/v1/clients/{external_id}",
                              lambda: f"/v1/clients/{new_external_id()}", Scope.CLIENTS_WRITE,
                              "head", AGENTS, 404, 404, refused_says="owners:write"),
    "owner": Endpoint("lookup", "PUT", "/v1/clients/{external_id}/owner",
                      lambda: f"/v1/clients/{new_external_id()}/owner", Scope.CLIENTS_WRITE,
                      "client head", AGENTS, 404, 404, refused_says="owners:write",
                      body=lambda _: {"owner_email": None}),
    # Made inactive: nobody this test makes is routed a call or given a lead.
    "employee": Endpoint("lookup", "PUT", "/v1/employees/{email}",
                         lambda: f"/v1/employees/new.{random_id()}@{DOMAIN}",
                         Scope.EMPLOYEES_WRITE, "admin", NOT_ADMINS, 201, 201,
                         refused_says="employees:write",
                         body=lambda _: {"name": "New Hire", "department": "client",
                                         "role": "agent", "active": False}),
    "outcome": Endpoint("lookup", "POST", "/v1/leads/{lead_id}/outcome",
                        lambda: f"/v1/leads/{uuid.uuid4()}/outcome", Scope.DEALS_WRITE,
                        "negotiator", ("operator",), 404, 404, refused_says="deals:write",
                        body=lambda _: {"outcome": "lost"}),
    # Who is signed in, and signing out: anyone with credentials.
    "session": Endpoint("lookup", "GET", "/v1/session", lambda: "/v1/session", None,
                        "operator", (), 200, 200),
    "sign out": Endpoint("lookup", "DELETE", "/v1/session", lambda: "/v1/session", None,
                         "operator", (), 200, 200),
    "sign out everywhere": Endpoint("lookup", "POST", "/v1/session/everywhere",
                                    lambda: "/v1/session/everywhere", None, "operator", (),
                                    200, 200),
    "rules": Endpoint("router", "GET", "/v1/rules", lambda: "/v1/rules", Scope.RULES_READ,
                      "operator", (), 200, 200),
    "inbox": Endpoint("assignment", "GET", "/v1/inbox", lambda: "/v1/inbox", Scope.INBOX_WORK,
                      "head", INBOX_REFUSED, 200, 200, refused_says="head of sales"),
    # Keeping a lead takes a person: an integration may pass leads, not keep them.
    "keep": Endpoint("assignment", "POST", "/v1/leads/{lead_id}/keep",
                     lambda: f"/v1/leads/{uuid.uuid4()}/keep", Scope.INBOX_WORK, "head",
                     INBOX_REFUSED, 404, 403, refused_says="head of sales"),
    "assign": Endpoint("assignment", "POST", "/v1/leads/{lead_id}/assign",
                       lambda: f"/v1/leads/{uuid.uuid4()}/assign", Scope.INBOX_WORK, "head",
                       INBOX_REFUSED, 404, 404, refused_says="head of sales",
                       body=lambda _: {"employee_id": str(uuid.uuid4())}),
    "qualification": Endpoint("desk", "POST", "/v1/calls/{call_id:path}/qualification",
                              lambda: f"/v1/calls/access-it:{random_id()}/qualification",
                              Scope.CALLS_QUALIFY, "operator", (), 404, 404,
                              body=lambda _: {"category": "spam"}),
}


@pytest.mark.parametrize("name", list(ENDPOINTS))
async def test_every_client_data_endpoint_is_behind_the_guard(stack: Stack, name: str):
    endpoint = ENDPOINTS[name]
    given = (endpoint.scope,) if endpoint.scope else ()
    # Without the scope, nor what it means for an integration (clients:write: owners:write).
    withheld = {*given, *(INTEGRATION_IMPLIES.get(endpoint.scope, ()) if endpoint.scope else ())}
    others = [s.value for s in Scope if s not in withheld]
    with_scope = await stack.token(integration=f"crm-{random_id()}",
                                   scopes=tuple(s.value for s in given))
    without_scope = await stack.token(integration=f"crm-{random_id()}", scopes=tuple(others))
    past = datetime.now(UTC) - timedelta(minutes=1)
    allowed = stack.ids[endpoint.allowed]
    expired = await stack.token(employee_id=allowed, expires_at=past)
    revoked = await stack.token(employee_id=allowed, revoked=True)
    later = await stack.token(employee_id=allowed, expires_at=past + timedelta(days=1))
    gone_integration = await stack.token(integration=f"crm-{random_id()}",
                                         scopes=tuple(s.value for s in given))
    await stack.execute("UPDATE integrations SET revoked_at = now() WHERE integration_id = "
                        "(SELECT integration_id FROM api_tokens WHERE token_hash = $1)",
                        token_hash(gone_integration))

    async def ask(headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=stack.urls[endpoint.service]) as http:
            return await http.request(endpoint.method, endpoint.path(),
                                      json=endpoint.body(stack), headers=headers)

    nobody = await ask()
    assert nobody.status_code == 401, nobody.text
    assert nobody.headers["www-authenticate"] == "Bearer" and is_error_model(nobody)
    for token in (new_token(), expired, revoked, gone_integration):
        refused = await ask(bearer(token))
        assert refused.status_code == 401, (token[:4], refused.text)
        assert "not valid" in refused.json()["error"] and is_error_model(refused)
    for who in endpoint.refused:
        wrong = await ask(bearer(stack.tokens[who]))
        assert wrong.status_code == 403, (who, wrong.text)
        assert endpoint.refused_says in wrong.json()["error"] and is_error_model(wrong)
    if endpoint.scope is not None:
        lacking = await ask(bearer(without_scope))
        assert lacking.status_code == 403, lacking.text
        assert endpoint.scope.value in lacking.json()["error"] and is_error_model(lacking)
    right = await ask(bearer(stack.tokens[endpoint.allowed]))
    assert right.status_code == endpoint.passes, right.text
    assert (await ask(bearer(later))).status_code == endpoint.passes  # not expired yet
    integration = await ask(bearer(with_scope))
    assert integration.status_code == endpoint.integration_passes, integration.text


@dataclass(frozen=True)
class PbxEndpoint:
    method: str
    route: str
    path: str
    credentials: str  # "signature" (the connector's HMAC of the body) or "basic" (dialplans)


# A PBX is no principal: its requests carry the connector's signature or HTTP basic auth, and
# a token, even an administrator's, opens none of them (tests/integration/test_intake.py and
# test_route.py try each kind of bad signature).
PBX_ENDPOINTS = {
    "pbx event": PbxEndpoint("POST", "/v1/pbx/{dialect}", "/v1/pbx/generic", "signature"),
    "route request": PbxEndpoint("POST", "/v1/route/{dialect}", "/v1/route/generic",
                                 "signature"),
    "route request by GET": PbxEndpoint("GET", "/v1/route/{dialect}", "/v1/route/asterisk",
                                        "basic"),
}
PBX = "test-pbx"


@pytest.mark.parametrize("name", list(PBX_ENDPOINTS))
async def test_the_pbx_endpoints_take_a_pbx_signature_and_no_token(stack: Stack, name: str):
    endpoint = PBX_ENDPOINTS[name]
    # Malformed on purpose: past the signature it is refused (400), and no call starts.
    content = b"{}" if endpoint.method == "POST" else None

    def credentials(secret: str) -> dict[str, str]:
        if endpoint.credentials == "basic":
            return {"Authorization": "Basic " + base64.b64encode(f"{PBX}:{secret}".encode()
                                                                 ).decode()}
        return signed(PBX, secret, content or b"")

    async def ask(headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=stack.urls["intake"]) as http:
            return await http.request(endpoint.method, endpoint.path, content=content,
                                      headers={"Content-Type": "application/json",
                                               **(headers or {})})

    admin = await stack.token(employee_id=stack.ids["admin"])
    integration = await stack.token(integration=f"crm-{random_id()}",
                                    scopes=tuple(s.value for s in Scope))
    for headers in (None, bearer(admin), bearer(integration), credentials("a guess")):
        refused = await ask(headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert is_error_model(refused)
    past_the_signature = await ask(credentials(CONNECTORS[PBX]))
    assert past_the_signature.status_code == 400, past_the_signature.text


# What no matrix above needs to cover: open to anyone and carrying no client data (health,
# metrics, the API documents, the desk's static files), the sign-in itself and invitation
# links (tried below), and the desk's pages (include_in_schema=False;
# tests/integration/test_desk*.py sign in to them).
OPEN_ROUTES = {("GET", "/health/live"), ("GET", "/health/ready"), ("*", "/metrics"),
               ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"),
               ("GET", "/redoc")}
EXEMPT_ROUTES = {("lookup", "POST", "/v1/session"), ("lookup", "POST", "/v1/invitations/{token}"),
                 ("desk", "*", "/static")}


def declared_routes() -> set[tuple[str, str, str]]:
    """(service, method, path) of every route of every service's app, as `python -m
    services.<name>.main` serves it; the desk's pages apart."""
    found = set()
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.main").app
        for route in iter_route_contexts(app.routes):
            if service == "desk" and not getattr(route, "include_in_schema", True):
                continue
            methods = set(route.methods or {"*"})
            if "GET" in methods:
                methods.discard("HEAD")  # Starlette answers HEAD for every GET
            found |= {(service, method, route.path) for method in methods}
    return found


def test_no_endpoint_is_left_out_of_the_matrix():
    covered = ({(e.service, e.method, e.route) for e in ENDPOINTS.values()}
               | {("intake", e.method, e.route) for e in PBX_ENDPOINTS.values()})
    exempt = {(s, m, p) for s in SERVICES for m, p in OPEN_ROUTES} | EXEMPT_ROUTES
    declared = declared_routes()
    assert declared - covered - exempt == set(), "routes no access test tries"
    assert covered - declared == set(), "tried routes no service declares"
    assert {service for service, _, _ in declared} == set(SERVICES)


async def inbox_lead(stack: Stack) -> uuid.UUID:
    """A commercial lead waiting in the head's inbox, its deadline far away."""
    lead_id = uuid.uuid4()
    await stack.execute(
        """INSERT INTO leads (lead_id, call_id, department, destination, stage, segment,
                              size_class, caller, client_name, value, currency, due_at)
           VALUES ($1, $2, 'commercial', 'commercial_department', 'qualified', 'corporate',
                   'medium', '+79160000000', 'Romashka', 2000000, 'RUB',
                   now() + interval '10 minutes')""",
        lead_id, f"access-it:{random_id()}")
    return lead_id


async def test_the_head_keeps_an_integration_passes_and_the_audit_log_says_who(stack: Stack):
    kept_id, passed_id = await inbox_lead(stack), await inbox_lead(stack)
    crm = f"crm-{random_id()}"
    integration = await stack.token(integration=crm, scopes=(Scope.INBOX_WORK.value,))
    negotiator = stack.ids["negotiator"]
    async with httpx.AsyncClient(base_url=stack.urls["assignment"]) as http:
        inbox = await http.get("/v1/inbox", headers=bearer(integration))
        kept = await http.post(f"/v1/leads/{kept_id}/keep",
                               headers=bearer(stack.tokens["head"]))
        not_kept = await http.post(f"/v1/leads/{passed_id}/keep", headers=bearer(integration))
        passed = await http.post(f"/v1/leads/{passed_id}/assign", headers=bearer(integration),
                                 json={"employee_id": str(negotiator)})
        not_a_lead = await http.post("/v1/leads/not-a-lead/keep",
                                     headers=bearer(stack.tokens["head"]))
    assert inbox.status_code == 200
    assert {str(kept_id), str(passed_id)} <= {lead["lead_id"] for lead in inbox.json()["leads"]}
    # The person acting keeps the lead
    assert kept.status_code == 200, kept.text
    assert kept.json()["employee_id"] == str(stack.ids["head"])
    assert kept.json()["strategy"] == "head_kept"
    assert not_kept.status_code == 403 and "kept by a person" in not_kept.json()["error"]
    assert passed.status_code == 200, passed.text
    assert passed.json()["employee_id"] == str(negotiator)
    assert passed.json()["strategy"] == "head_assigned"
    assert not_a_lead.status_code == 422
    assert not_a_lead.json() == {"error": not_a_lead.json()["error"], "where": "lead_id"}
    [keep_line] = await stack.audit("lead.keep", str(kept_id))
    assert (keep_line["principal_kind"], keep_line["principal"]) == ("person",
                                                                    stack.emails["head"])
    assert json.loads(keep_line["detail"])["employee_id"] == str(stack.ids["head"])
    [assign_line] = await stack.audit("lead.assign", str(passed_id))
    assert (assign_line["principal_kind"], assign_line["principal"]) == ("integration", crm)
    assert json.loads(assign_line["detail"])["employee_id"] == str(negotiator)
    assert await stack.audit("lead.keep", str(passed_id)) == []  # refused: nothing done


async def test_a_look_up_is_audited_with_the_number_and_never_logs_it(stack: Stack,
                                                                      services: Services):
    client = await seed_client(stack.infra.database_url, owned=False)
    national = f"8 ({client.phone[2:5]}) {client.phone[5:8]}-{client.phone[8:10]}-" \
               f"{client.phone[10:]}"
    async with httpx.AsyncClient(base_url=stack.urls["lookup"]) as http:
        found = await http.get(f"/v1/callers/{national}", headers=bearer(stack.tokens["operator"]))
    assert found.status_code == 200, found.text
    assert found.json()["client"]["client_id"] == str(client.client_id)
    [line] = await stack.audit("caller.look_up", client.phone)  # normalised
    assert (line["principal_kind"], line["principal"]) == ("person", stack.emails["operator"])
    assert json.loads(line["detail"]) == {"known": True}
    # The access log has the request, with the number masked
    log = services.running["lookup"].log_path
    masked = f"***{client.phone[-4:]}"
    for _ in range(50):
        if masked in log.read_text(errors="replace"):
            break
        await asyncio.sleep(0.1)
    text = log.read_text(errors="replace")
    assert masked in text
    assert client.phone[1:] not in text and client.phone[2:] not in text


# ---------------------------------------------------------------------------- sign-in


def address() -> dict[str, str]:
    """A sign-in from an address of its own."""
    return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}."
                               f"{random.randrange(1, 255)}"}


def session_cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {SESSION_COOKIE} cookie in {response.headers}")


def with_cookie(cookie: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


async def sign_in(stack: Stack, email: str, password: str = PASSWORD,
                  origin: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.urls["lookup"]) as http:
        return await http.post("/v1/session", json={"email": email, "password": password},
                               headers=origin or address())


async def test_a_person_signs_in_works_with_the_cookie_and_signs_out(stack: Stack):
    email = await stack.person("olga", department="client", role="agent", password=PASSWORD)
    client = await seed_client(stack.infra.database_url, owned=False)
    signed_in = await sign_in(stack, email.upper())
    assert signed_in.status_code == 200, signed_in.text
    cookie, csrf = session_cookie(signed_in), signed_in.json()["csrf_token"]
    set_cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert signed_in.json()["email"] == email and signed_in.json()["roles"] == ["operator"]
    async with httpx.AsyncClient(base_url=stack.urls["lookup"]) as http:
        me = await http.get("/v1/session", headers=with_cookie(cookie))
        looked_up = await http.get(f"/v1/callers/{client.phone}", headers=with_cookie(cookie))
        no_csrf = await http.post("/v1/session/everywhere", headers=with_cookie(cookie))
        wrong_csrf = await http.post("/v1/session/everywhere",
                                     headers=with_cookie(cookie, csrf[::-1]))
        everywhere = await http.post("/v1/session/everywhere", headers=with_cookie(cookie, csrf))
        after_everywhere = await http.get(f"/v1/callers/{client.phone}",
                                          headers=with_cookie(cookie))
        again = await sign_in(stack, email)
        cookie, csrf = session_cookie(again), again.json()["csrf_token"]
        out_without_csrf = await http.delete("/v1/session", headers=with_cookie(cookie))
        out = await http.delete("/v1/session", headers=with_cookie(cookie, csrf))
        after_out = await http.get(f"/v1/callers/{client.phone}", headers=with_cookie(cookie))
    assert me.status_code == 200 and me.json()["email"] == email
    assert me.json()["csrf_token"] == signed_in.json()["csrf_token"]
    assert looked_up.status_code == 200, looked_up.text
    assert looked_up.json()["client"]["client_id"] == str(client.client_id)
    for refused in (no_csrf, wrong_csrf, out_without_csrf):
        assert refused.status_code == 403, refused.text
        assert refused.json()["where"] == "X-CSRF-Token"
    assert everywhere.status_code == 200 and everywhere.json()["sessions_ended"] >= 1
    assert after_everywhere.status_code == 401 and is_error_model(after_everywhere)
    assert out.status_code == 200 and out.json()["sessions_ended"] == 1
    assert after_out.status_code == 401
    lines = await stack.fetch("SELECT action, subject FROM audit_log WHERE principal = $1 "
                              "ORDER BY audit_id", email)
    assert [line["action"] for line in lines] == [
        "session.open", "caller.look_up", "session.close_everywhere", "session.open",
        "session.close"]
    assert lines[1]["subject"] == client.phone


async def test_an_ended_session_is_refused(stack: Stack):
    email = await stack.person("pavel", department="commercial", role="agent",
                               password=PASSWORD)
    expired, idle, fresh = [session_cookie(await sign_in(stack, email)) for _ in range(3)]
    await stack.execute("UPDATE sessions SET expires_at = now() - interval '1 s' "
                        "WHERE session_hash = $1", token_hash(expired))
    await stack.execute("UPDATE sessions SET last_seen_at = now() - interval '9 hours' "
                        "WHERE session_hash = $1", token_hash(idle))  # idle: 8 hours
    async with httpx.AsyncClient(base_url=stack.urls["lookup"]) as http:
        for cookie in (expired, idle, new_token("sbs_")):
            refused = await http.get("/v1/session", headers=with_cookie(cookie))
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "the session has ended; sign in again"
        assert (await http.get("/v1/session", headers=with_cookie(fresh))).status_code == 200


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(stack: Stack):
    email = await stack.person("irina", department="client", role="agent", password=PASSWORD)
    unknown_email = f"nobody.{random_id()}@{DOMAIN}"
    wrong_password = await sign_in(stack, email, "not the password at all")
    unknown = await sign_in(stack, unknown_email)
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json() == unknown.json() == {"error": "wrong e-mail or password",
                                                       "where": "password"}
    assert SESSION_COOKIE not in wrong_password.headers.get("set-cookie", "")
    for subject in (email, unknown_email):
        [line] = await stack.audit("session.refused", subject)
        assert line["principal_kind"] == "system"


async def test_sign_in_is_rate_limited_per_account(stack: Stack):
    email = await stack.person("boris", department="client", role="agent", password=PASSWORD)
    origin = address()
    for attempt in range(5):  # SWITCHBOARD_ACCESS_SIGN_IN_FAILURES_PER_ACCOUNT
        wrong = await sign_in(stack, email, f"guess number {attempt}", origin)
        assert wrong.status_code == 401, wrong.text
    # the sixth, even with the right password, and from another address as well
    limited = await sign_in(stack, email, origin=origin)
    elsewhere = await sign_in(stack, email)
    assert limited.status_code == elsewhere.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0 and is_error_model(limited)
    assert "too many failed sign-ins" in limited.json()["error"]
    # another account from the same address is not limited (20 per address)
    other = await stack.person("vera", department="client", role="agent", password=PASSWORD)
    assert (await sign_in(stack, other, origin=origin)).status_code == 200


def loopback_peer() -> str:
    """A loopback address of this test's own, other than 127.0.0.1: the services listen on
    127.0.0.1 and take `X-Forwarded-For` from 127.0.0.1 alone (uvicorn's FORWARDED_ALLOW_IPS),
    so a request from here is counted against this address, whatever it says it forwards."""
    return (f"127.{random.randrange(1, 255)}.{random.randrange(256)}."
            f"{random.randrange(1, 255)}")


def from_peer(stack: Stack, peer: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.urls["lookup"],
                             transport=httpx.AsyncHTTPTransport(local_address=peer))


async def test_sign_in_is_rate_limited_per_address(stack: Stack):
    email = await stack.person("gleb", department="client", role="agent", password=PASSWORD)
    peer = loopback_peer()
    async with from_peer(stack, peer) as http:
        # 20 failures (SWITCHBOARD_ACCESS_SIGN_IN_FAILURES_PER_ADDRESS), each for another
        # e-mail, each claiming to be forwarded for another address
        for _ in range(20):
            wrong = await http.post("/v1/session", headers=address(), json={
                "email": f"nobody.{random_id()}@{DOMAIN}", "password": "a guess at random"})
            assert wrong.status_code == 401, wrong.text
        # then even a right password of an account without a failure must wait
        limited = await http.post("/v1/session", json={"email": email, "password": PASSWORD},
                                  headers=address())
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0 and is_error_model(limited)
    # from another address the person signs in: forwarded by the trusted proxy, or directly
    forwarded = address()
    assert (await sign_in(stack, email, origin=forwarded)).status_code == 200
    other = next(p for p in iter(loopback_peer, None) if p != peer)
    async with from_peer(stack, other) as http:
        elsewhere = await http.post("/v1/session", json={"email": email, "password": PASSWORD})
    assert elsewhere.status_code == 200, elsewhere.text
    sessions = await stack.fetch("SELECT address FROM sessions WHERE employee_id = $1",
                                 stack.ids["gleb"])
    assert sorted(s["address"] for s in sessions) == sorted([forwarded["X-Forwarded-For"],
                                                             other])


async def test_parallel_guesses_get_no_more_password_checks_than_the_limit(stack: Stack):
    email = await stack.person("lev", department="commercial", role="agent",
                               password=PASSWORD)
    guesses = 15
    async with httpx.AsyncClient(base_url=stack.urls["lookup"], timeout=60) as http:
        answers = await asyncio.gather(*(
            http.post("/v1/session", json={"email": email, "password": f"guess {n}"},
                      headers=address())  # each from its own address: the account's limit
            for n in range(guesses)))
    statuses = sorted(answer.status_code for answer in answers)
    checked = statuses.count(401)
    # 5: SWITCHBOARD_ACCESS_SIGN_IN_FAILURES_PER_ACCOUNT; each password check is audited
    assert checked <= 5 and statuses.count(429) == guesses - checked, statuses
    assert len(await stack.audit("session.refused", email)) == checked


async def test_an_invitation_link_sets_the_password_once(stack: Stack):
    email = await stack.person("maria", department="commercial", role="head")
    token, expired_token = new_token(INVITATION_TOKEN), new_token(INVITATION_TOKEN)
    await stack.execute(
        "INSERT INTO invitations (token_hash, employee_id, expires_at) VALUES "
        "($1, $3, now() + interval '1 hour'), ($2, $3, now() - interval '1 second')",
        token_hash(token), token_hash(expired_token), stack.ids["maria"])
    before = await sign_in(stack, email)
    async with httpx.AsyncClient(base_url=stack.urls["lookup"]) as http:
        too_short = await http.post(f"/v1/invitations/{token}", json={"password": "short"})
        accepted = await http.post(f"/v1/invitations/{token}", json={"password": PASSWORD})
        twice = await http.post(f"/v1/invitations/{token}", json={"password": PASSWORD})
        late = await http.post(f"/v1/invitations/{expired_token}", json={"password": PASSWORD})
    after = await sign_in(stack, email)
    assert before.status_code == 401  # no password yet
    assert too_short.status_code == 422 and too_short.json()["where"] == "password"
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"email": email, "status": "password set"}
    assert twice.status_code == late.status_code == 404
    assert is_error_model(twice)
    assert after.status_code == 200, after.text
    assert after.json()["roles"] == ["head"]
    [line] = await stack.audit("password.set", email)
    assert json.loads(line["detail"]) == {"by": "invitation"}


async def test_an_invitation_link_ends_the_sessions_of_before(stack: Stack):
    email = await stack.person("nina", department="client", role="agent", password=PASSWORD)
    before = await sign_in(stack, email)  # a session of the old password's
    assert before.status_code == 200, before.text
    token, new_password = new_token(INVITATION_TOKEN), PASSWORD + " two"
    await stack.execute("INSERT INTO invitations (token_hash, employee_id, expires_at) VALUES "
                        "($1, $2, now() + interval '1 hour')", token_hash(token),
                        stack.ids["nina"])
    async with httpx.AsyncClient(base_url=stack.urls["lookup"]) as http:
        alive = await http.get("/v1/session", headers=with_cookie(session_cookie(before)))
        accepted = await http.post(f"/v1/invitations/{token}", json={"password": new_password})
        ended = await http.get("/v1/session", headers=with_cookie(session_cookie(before)))
    assert alive.status_code == 200 and accepted.status_code == 200, accepted.text
    assert ended.status_code == 401 and ended.json()["error"] == (
        "the session has ended; sign in again")
    [session] = await stack.fetch("SELECT revoked_at FROM sessions WHERE employee_id = $1",
                                  stack.ids["nina"])
    assert session["revoked_at"] is not None
    # the new password signs in, the old one no longer
    assert (await sign_in(stack, email, PASSWORD)).status_code == 401
    assert (await sign_in(stack, email, new_password)).status_code == 200


# ---------------------------------------------------------------------------- one error model


async def test_every_error_answer_is_the_one_model(stack: Stack):
    async with httpx.AsyncClient(base_url=stack.urls["lookup"]) as http:
        no_password = await http.post("/v1/session", json={"email": "olga@example.com"},
                                      headers=address())
        not_json = await http.post("/v1/session", content=b"{", headers={
            **address(), "Content-Type": "application/json"})
        short = await http.post("/v1/session", json={"email": "o", "password": "s3cret-sauce"},
                                headers=address())
        no_such_path = await http.get("/v1/nothing-here")
        wrong_method = await http.put("/v1/session")
    assert no_password.status_code == 422
    assert no_password.json() == {"error": "Field required", "where": "password"}
    assert not_json.status_code == 422 and not_json.json()["where"] == "body"
    assert short.status_code == 422 and short.json()["where"] == "email"
    assert "s3cret-sauce" not in short.text  # the input is not echoed
    assert no_such_path.status_code == 404 and is_error_model(no_such_path)
    assert wrong_method.status_code == 405 and is_error_model(wrong_method)
    # and each service's OpenAPI document declares it for every error answer
    for service, url in stack.urls.items():
        async with httpx.AsyncClient(base_url=url) as http:
            document = (await http.get("/openapi.json")).json()
        assert "HTTPValidationError" not in json.dumps(document), service
        for path, operations in document["paths"].items():
            if not path.startswith("/v1/"):
                continue
            for method, operation in operations.items():
                statuses = {int(s) for s in operation["responses"]}
                assert any(s >= 400 for s in statuses), (service, method, path)
                for status, answer in operation["responses"].items():
                    if int(status) < 400:
                        continue
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    model = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
                    assert {"error", "where"} <= set(model["properties"]), (path, status)
