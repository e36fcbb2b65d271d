"""Every service's HTTP API against its own OpenAPI document, on the real stack (issue 14, "errors
documented"): schemathesis loads each running service's `/openapi.json` and sends what it
generates for every operation (the documented examples, boundary and malformed values, random
data), and fails on a server error, a status code the document does not declare, or an answer
whose content type or body breaks what the document says.

Each service twice: without credentials (every guarded endpoint must answer its documented 401),
and with credentials that get past the guard: an administrator's bearer token (every scope) for
the services with principals; for the intake, whose callers are PBXs, the test connector's own
credentials (HTTP basic auth for the dialplans, and the Switchboard HMAC signature of each
request's body), so that generated events reach the dialects' parsers and the pipeline.

A bounded number of examples per operation and a fixed seed, so the file takes about a minute
and a failure here is reproducible (its output has the `curl` that reproduces it); for a longer
hunt, SWITCHBOARD_FUZZ_EXAMPLES raises the number and SWITCHBOARD_FUZZ_SEED changes the seed.
The employees the fuzzer creates through the lookup's CRM API are deactivated afterwards.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis

from switchboard.devstack import Services
from tests.conftest import CONNECTORS, REPO, Endpoints
from tests.support import employee_with_token, signed

pytestmark = pytest.mark.integration

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("SWITCHBOARD_FUZZ_SEED", "14"))
# The services with an HTTP API (the desk's pages are not in its OpenAPI document; its JSON
# API is).
FUZZED = ("intake", "lookup", "router", "assignment", "desk")
CONNECTOR = "test-pbx"
# Set for the schemathesis process that speaks as the test connector (see `before_call`).
AS_CONNECTOR = "SWITCHBOARD_FUZZ_AS_CONNECTOR"


class ConnectorCredentials(requests.auth.AuthBase):
    """What the test connector sends with each request: basic auth (the dialplans' route
    requests) and the HMAC signature of the body as it goes out (webhooks, `generic`)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        secret = CONNECTORS[CONNECTOR]
        request.headers.update(signed(CONNECTOR, secret, raw))
        basic = base64.b64encode(f"{CONNECTOR}:{secret}".encode()).decode()
        request.headers["Authorization"] = f"Basic {basic}"
        return request


if os.environ.get(AS_CONNECTOR):
    # This module is the schemathesis process's hooks module (SCHEMATHESIS_HOOKS): every
    # request it sends is signed, the body as it goes out.
    @schemathesis.hook
    def before_call(context: schemathesis.HookContext, case: schemathesis.Case,
                    kwargs: dict[str, Any]) -> None:
        kwargs["auth"] = ConnectorCredentials()


@dataclass(frozen=True)
class Target:
    """One run: a service and the credentials its requests carry."""

    service: str
    credentials: str  # "none", "admin" (a bearer token) or "connector" (a PBX's)


TARGETS = [Target(service, credentials) for service in FUZZED
           for credentials in ("none", "connector" if service == "intake" else "admin")]


@pytest.fixture(scope="session")
async def admin_token(infra: Endpoints) -> str:
    """A bearer token of an administrator: every scope, so the fuzzer gets past every guard."""
    employee_id, token = await employee_with_token(
        infra.database_url, department="commercial", role="head", domain="fuzz-it.example",
        name="Fuzz Admin")
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute("UPDATE employees SET admin = true WHERE employee_id = $1",
                           employee_id)
    finally:
        await conn.close()
    return token


@pytest.fixture(scope="module", autouse=True)
async def fuzzed_employees_retired(infra: Endpoints) -> AsyncIterator[None]:
    """The employees the fuzzer creates through the CRM API (and its administrator) are
    deactivated, their lines freed, after this module: the database is shared, and they must not compete for the
    leads of the tests that follow."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        before = [row["employee_id"]
                  for row in await conn.fetch("SELECT employee_id FROM employees")]
    finally:
        await conn.close()
    yield
    conn = await asyncpg.connect(infra.database_url)
    try:
        # ... and their lines freed: an extension is unique, and later tests seed their own.
        await conn.execute("UPDATE employees SET active = false, extension = NULL, "
                           "direct_number = NULL WHERE employee_id <> ALL($1)", before)
    finally:
        await conn.close()


def an_address() -> str:
    """An address from a documentation range, for `X-Forwarded-For`: the fuzzer's failed
    sign-ins are counted against it, not against 127.0.0.1, which other tests share."""
    return str(ipaddress.ip_address("198.51.100.0") + random.randrange(1, 255))


def schemathesis_run(url: str, headers: dict[str, str], env: dict[str, str]
                     ) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
               "--checks", ",".join(CHECKS), "--max-examples", str(EXAMPLES),
               "--seed", str(SEED), "--request-timeout", "15", "--max-failures", "20",
               "--no-color"]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    return subprocess.run(command, cwd=REPO, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.service}-{t.credentials}")
def test_every_answer_is_documented(target: Target, services: Services,
                                    admin_token: str) -> None:
    headers = {"X-Forwarded-For": an_address()}
    env = {"NO_COLOR": "1"}
    if target.credentials == "admin":
        headers["Authorization"] = f"Bearer {admin_token}"
    elif target.credentials == "connector":
        env |= {"SCHEMATHESIS_HOOKS": __name__, AS_CONNECTOR: "1"}
    run = schemathesis_run(services.running[target.service].url, headers, env)
    if run.returncode != 0:
        pytest.fail(f"schemathesis against the {target.service} ({target.credentials} "
                    f"credentials) exited {run.returncode}:\n{run.stdout}\n{run.stderr}",
                    pytrace=False)
