"""The SIP harness and the Kamailio config, proved against a stand-in for the intake's route
endpoint (GET /v1/route/kamailio, basic auth, text/plain SIP URI)."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.sip.harness import (CONFIG_TEMPLATE, HOST, Phone, SipLab, render_config, wait_until,
                               with_credentials)

pytestmark = pytest.mark.sip

CONNECTOR, SECRET = "office-1", "s3cret:with@odd/chars"
ROUTE_PATH = "/v1/route/kamailio"


@dataclass(frozen=True)
class Query:
    path: str
    caller: str | None
    dialed: str | None
    call_id: str | None
    credentials: tuple[str, str] | None


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = ""
    delay: float = 0.0


class RouteStub:
    """Answers each query with what `answer(query)` says, and keeps the queries."""

    def __init__(self) -> None:
        self.answer: Callable[[Query], Answer] = lambda query: Answer(404, "no route")
        self.queries: list[Query] = []
        self.answered = 0      # answers written (or given up on) so far
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = stub._parse(self)
                with stub._lock:
                    stub.queries.append(query)
                answer = stub.answer(query)
                time.sleep(answer.delay)
                body = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # Kamailio gave up waiting: the point of a slow answer
                with stub._lock:
                    stub.answered += 1

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{HOST}:{self.server.server_address[1]}{ROUTE_PATH}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)

    @staticmethod
    def _parse(request: BaseHTTPRequestHandler) -> Query:
        url = urlsplit(request.path)
        params = {name: values[0] for name, values in parse_qs(url.query).items()}
        credentials = None
        scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            username, _, password = base64.b64decode(encoded).decode().partition(":")
            credentials = (username, password)
        return Query(url.path, params.get("caller"), params.get("dialed"),
                     params.get("call_id"), credentials)

    def __enter__(self) -> RouteStub:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def route_stub() -> Iterator[RouteStub]:
    with RouteStub() as stub:
        yield stub


def start_office(lab: SipLab, stub: RouteStub, *,
                 timeout_seconds: int = 1) -> tuple[Phone, dict[str, Phone]]:
    """The desk (the fallback), phones 214 and 215, and the proxy asking the stub."""
    desk = lab.add_phone("desk")
    phones = {name: lab.add_phone(name) for name in ("214", "215")}
    lab.start_proxy(route_url=with_credentials(stub.url, CONNECTOR, SECRET),
                    fallback_uri=desk.uri, timeout_seconds=timeout_seconds)
    return desk, phones


def test_the_call_rings_the_phone_the_route_names(sip_lab: SipLab, route_stub: RouteStub):
    # Given a route that sends one caller to 214 and another to 215
    desk, phones = start_office(sip_lab, route_stub)
    routes = {"+79161234567": phones["214"].uri, "+79167654321": phones["215"].uri}
    route_stub.answer = lambda query: Answer(body=routes[query.caller] + "\n")
    # When each of them calls the company's number
    first = sip_lab.call("+79161234567", "+74950000000")
    second = sip_lab.call("+79167654321", "+74950000000")
    # Then each call rings the phone the route named, and nothing rings the desk
    assert (first.answered_by, second.answered_by) == ("214", "215")
    assert first.exit_code == second.exit_code == 0
    assert phones["214"].invites() == {first.call_id: phones["214"].uri}
    assert phones["215"].invites() == {second.call_id: phones["215"].uri}
    assert desk.calls() == []
    # And the route was asked about each call by caller, dialed number and Call-ID, with the
    # connector's credentials
    assert route_stub.queries == [
        Query(ROUTE_PATH, "+79161234567", "+74950000000", first.call_id, (CONNECTOR, SECRET)),
        Query(ROUTE_PATH, "+79167654321", "+74950000000", second.call_id, (CONNECTOR, SECRET)),
    ]


@pytest.mark.parametrize("answer", [
    Answer(500, "internal error"),
    Answer(200, "not a SIP URI"),
    Answer(200, "sip:214@127.0.0.1:1", delay=3.0),   # past the 1 s timeout
], ids=["500", "not-a-uri", "too-slow"])
def test_without_a_usable_route_the_call_rings_the_desk(sip_lab: SipLab,
                                                        route_stub: RouteStub, answer: Answer):
    desk, phones = start_office(sip_lab, route_stub)
    route_stub.answer = lambda query: answer
    outcome = sip_lab.call("+79161234567", "+74950000000")
    assert outcome.answered_by == "desk", outcome
    assert desk.calls() == [outcome.call_id]
    assert len(route_stub.queries) == 1
    # The caller waits at most the route timeout (1 s) and the call set-up.
    assert outcome.elapsed is not None and outcome.elapsed < 2.0, outcome
    if answer.delay:
        assert outcome.elapsed >= 1.0, outcome


def test_an_unreachable_route_rings_the_desk(sip_lab: SipLab):
    desk = sip_lab.add_phone("desk")
    with socket.socket() as probe:   # a port nothing listens on
        probe.bind((HOST, 0))
        closed_port = probe.getsockname()[1]
    sip_lab.start_proxy(
        route_url=with_credentials(f"http://{HOST}:{closed_port}{ROUTE_PATH}", CONNECTOR, SECRET),
        fallback_uri=desk.uri)
    outcome = sip_lab.call("+79161234567", "+74950000000")
    assert outcome.answered_by == "desk", outcome
    assert outcome.elapsed is not None and outcome.elapsed < 2.0, outcome


def test_a_retransmitted_invite_makes_one_route_query(sip_lab: SipLab, route_stub: RouteStub):
    # Given a route that takes 0.6 s to answer (within the 2 s timeout)
    desk, phones = start_office(sip_lab, route_stub, timeout_seconds=2)
    route_stub.answer = lambda query: Answer(body=phones["214"].uri, delay=0.6)
    # When the caller sends its INVITE again while the query runs
    outcome = sip_lab.call("+79161234567", "+74950000000", retransmit_invite=True)
    # Then the route is asked once, and the call rings the phone it named, once
    assert outcome.invites_sent == 2
    assert outcome.answered_by == "214", outcome
    assert len(route_stub.queries) == 1
    assert phones["214"].calls() == [outcome.call_id]
    assert desk.calls() == []


def test_a_caller_who_hangs_up_during_the_query_rings_no_one(sip_lab: SipLab,
                                                             route_stub: RouteStub):
    # Given a route that takes 0.6 s to answer
    desk, phones = start_office(sip_lab, route_stub, timeout_seconds=2)
    route_stub.answer = lambda query: Answer(body=phones["214"].uri, delay=0.6)
    # When the caller hangs up 0.2 s into the query
    outcome = sip_lab.call("+79161234567", "+74950000000", hang_up_after_ms=200)
    assert outcome.status == 487, outcome
    # Then, once the route has answered, neither the phone it named nor the desk rings
    wait_until(lambda: route_stub.answered == 1, timeout=5, what="the route answering")
    time.sleep(0.3)
    assert [phone.calls() for phone in (desk, *phones.values())] == [[], [], []]


def test_the_config_template_changes_only_in_its_settings_lines():
    template = CONFIG_TEMPLATE.read_text()
    rendered = render_config(listen_port=45060, route_url="http://u:p@127.0.0.1:1/r",
                             fallback_uri="sip:desk@127.0.0.1:2", timeout_seconds=3)
    changed = [(a, b) for a, b in zip(template.splitlines(), rendered.splitlines()) if a != b]
    assert [b for _, b in changed] == [
        "#!define SIP_LISTEN udp:127.0.0.1:45060",
        '#!define ROUTE_URL "http://u:p@127.0.0.1:1/r"',
        '#!define FALLBACK_URI "sip:desk@127.0.0.1:2"',
        "#!define ROUTE_TIMEOUT_SECONDS 3",
    ]
