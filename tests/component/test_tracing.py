"""One call is one trace: the four services' handlers chained on FastStream's in-memory broker,
with fakes of our own ports, and the spans kept in memory."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.intake.http import pbx_routes
from services.lookup.policy import CallerRecord, OwnershipRecord
from shared import topics
from shared.app import service_app
from shared.events import ClientRef, Department, EmployeeRef
from shared.kafka import make_broker
from shared.observability.tracing import tracer_provider
from shared.settings import (
    IntakeSettings,
    KafkaSettings,
    RouterSettings,
)
from tests.component.wiring import wire_pipeline
from tests.fakes.assignment import InMemoryLeads, Staff
from tests.fakes.intake import FakeAcceptedCalls
from tests.fakes.lookup import FakeClientBase
from tests.conftest import RULES_ALWAYS_OPEN
from tests.support import signed

NOW = datetime.now(UTC)
CALLER = "+79161234567"
CLIENT = ClientRef(client_id=uuid.uuid4(), name="Romashka LLC", segment="corporate")
OWNER = EmployeeRef(employee_id=uuid.uuid4(), name="Anna Ivanova",
                    department=Department.COMMERCIAL)
INTAKE = IntakeSettings(_env_file=None, connectors={"office-1": "office-secret"})
# The topic each service consumes: its handler's span is "<topic> process".
CONSUMED = {"intake": topics.PBX_EVENTS.name, "lookup": topics.CALLS_RECEIVED.name,
            "router": topics.CALLS_ENRICHED.name, "assignment": topics.CALLS_ROUTED.name}


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
def pipeline(spans):
    provider, _ = spans
    return wired(make_broker(KafkaSettings(), "component", tracer_provider=provider))


def wired(broker):
    return wire_pipeline(
        broker, calls=FakeAcceptedCalls(),
        clients=FakeClientBase({CALLER: CallerRecord(CLIENT, OwnershipRecord(OWNER, NOW, NOW))}),
        leads=InMemoryLeads([Staff(OWNER)]),
        # Always on shift: every call of the owned caller is the owner's lead.
        rules_file=RULES_ALWAYS_OPEN,
        intake_settings=INTAKE)


def pbx_event(call_id: str) -> bytes:
    return json.dumps({"pbx": "office-1", "call_id": call_id, "caller": "8 916 123-45-67",
                       "dialed": "+74951000000"}).encode()


async def test_one_call_is_one_trace_through_the_four_services(pipeline, spans):
    _, exporter = spans
    routed = []

    @pipeline.subscriber(topics.CALLS_ROUTED.name)
    async def collect(event: dict):
        routed.append(event)

    # When one PBX event comes in (a ringing call to the owner: a contact, no lead)
    async with TestKafkaBroker(pipeline) as br:
        await br.publish(pbx_event("t1"), topics.PBX_EVENTS.name)
    assert [r["call_id"] for r in routed] == ["office-1:t1"]

    # Then each service's handler made a span, and all of them are one trace
    finished = exporter.get_finished_spans()
    processed = {s.name: s for s in finished if s.name.endswith(" process")}
    for service, topic in CONSUMED.items():
        assert f"{topic} process" in processed, f"no span of the {service} handler"
    trace_ids = {processed[f"{topic} process"].context.trace_id for topic in CONSUMED.values()}
    assert len(trace_ids) == 1, "the call's path is split over several traces"
    # ... which also holds the publishing of the decision, and nothing else
    (trace_id,) = trace_ids
    assert any(s.name == f"{topics.CALLS_ROUTED.name} publish"
               and s.context.trace_id == trace_id for s in finished)
    assert {s.context.trace_id for s in finished} == {trace_id}
    # ... which starts where the call entered: every later stage descends from the intake's span
    parents = {s.context.span_id: s.parent.span_id if s.parent else None for s in finished}

    def ancestors(span) -> set[int]:
        found, current = set(), parents.get(span.context.span_id)
        while current is not None:
            found.add(current)
            current = parents.get(current)
        return found

    intake = processed[f"{topics.PBX_EVENTS.name} process"].context.span_id
    for service, topic in CONSUMED.items():
        if service != "intake":
            assert intake in ancestors(processed[f"{topic} process"]), service

async def test_two_calls_are_two_traces(pipeline, spans):
    _, exporter = spans
    async with TestKafkaBroker(pipeline) as br:
        await br.publish(pbx_event("t2"), topics.PBX_EVENTS.name)
        await br.publish(pbx_event("t3"), topics.PBX_EVENTS.name)
    intake_spans = [s for s in exporter.get_finished_spans()
                    if s.name == f"{topics.PBX_EVENTS.name} process"]
    assert len({s.context.trace_id for s in intake_spans}) == 2


async def test_a_webhook_starts_the_trace_of_its_call(pipeline, spans):
    provider, exporter = spans

    @contextlib.asynccontextmanager
    async def no_resources():
        yield {}

    app = service_app("intake", pipeline, no_resources, tracer_provider=provider)
    app.include_router(pbx_routes(pipeline))
    payload = pbx_event("t4")
    # A connector that traces too sends its own context: the call joins its trace
    parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {**signed("office-1", "office-secret", payload),
               "traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01"}
    async with TestKafkaBroker(pipeline), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake") as http:
        response = await http.post("/v1/pbx/generic", content=payload, headers=headers)
        assert response.status_code == 202, response.text
        assert (await http.get("/health/live")).status_code == 200

    finished = exporter.get_finished_spans()
    (request,) = [s for s in finished if s.name == "POST /v1/pbx/{dialect}"]
    assert format(request.context.trace_id, "032x") == parent_trace
    assert request.attributes["http.response.status_code"] == 202
    later = [s for s in finished if s.name in (f"{topics.CALLS_RECEIVED.name} process",
                                               f"{topics.CALLS_ROUTED.name} process")]
    assert len(later) == 2 and {s.context.trace_id for s in later} == {request.context.trace_id}
    assert not [s for s in finished if "/health" in s.name]



def test_spans_are_exported_only_to_a_configured_endpoint(monkeypatch):
    received: list[str] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["content-length"]))
            received.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # Without an endpoint nothing is sent; with the standard variable, to its traces path
        quiet = tracer_provider("router", RouterSettings(_env_file=None).otlp_endpoint)
        quiet.get_tracer("test").start_span("kept home").end()
        assert quiet.force_flush() and received == []
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        exporting = tracer_provider("router", RouterSettings(_env_file=None).otlp_endpoint)
        exporting.get_tracer("test").start_span("sent").end()
        assert exporting.force_flush()
        exporting.shutdown()
        assert received == ["/v1/traces"]
        assert exporting.resource.attributes["service.name"] == "switchboard-router"
    finally:
        server.shutdown()


def pipeline_without_spans() -> tuple[KafkaBroker, list[tuple[str, str | None]]]:
    """The pipeline on a broker that makes no spans, and what reaches calls.routed: each
    call's id and the traceparent it carries."""
    broker = wired(make_broker(KafkaSettings(), "component"))
    seen: list[tuple[str, str | None]] = []

    @broker.subscriber(topics.CALLS_ROUTED.name)
    async def collect(event: dict, msg: KafkaMessage):
        seen.append((event["call_id"], msg.headers.get("traceparent")))

    return broker, seen


async def test_without_spans_the_trace_context_a_call_came_with_travels_on(spans):
    # Traces not exported: no spans are made, and a connector's trace context reaches the end
    _, exporter = spans
    broker, seen = pipeline_without_spans()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    async with TestKafkaBroker(broker) as br:
        await br.publish(pbx_event("t5"), topics.PBX_EVENTS.name,
                         headers={"traceparent": traceparent})
        await br.publish(pbx_event("t6"), topics.PBX_EVENTS.name)
    assert seen == [("office-1:t5", traceparent), ("office-1:t6", None)]
    assert exporter.get_finished_spans() == ()


async def test_without_spans_a_webhooks_trace_context_travels_on(spans):
    # Traces not exported: no span per request either; the connector's context goes on
    _, exporter = spans
    broker, seen = pipeline_without_spans()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @contextlib.asynccontextmanager
    async def no_resources():
        yield {}

    app = service_app("intake", broker, no_resources)
    app.include_router(pbx_routes(broker))
    async with TestKafkaBroker(broker), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake") as http:
        for call, extra in (("t7", {"traceparent": traceparent}), ("t8", {})):
            payload = pbx_event(call)
            response = await http.post("/v1/pbx/generic", content=payload, headers={
                **signed("office-1", "office-secret", payload), **extra})
            assert response.status_code == 202, response.text
    assert seen == [("office-1:t7", traceparent), ("office-1:t8", None)]
    assert exporter.get_finished_spans() == ()
