"""What ops teams see while calls flow through the four running services: the counters of
`/metrics` move, the consumer lag and the database pools are there, and the log lines are
JSON with the call id and no dialable caller number."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared import topics
from shared.events import CallRouted, Category, Destination, Stage, utcnow
from shared.kafka import group_id
from switchboard.devstack import Services
from tests.conftest import PARTITIONS, Endpoints
from tests.support import (
    TopicWatch,
    about,
    body,
    employee_with_line,
    generic_call,
    publish,
    seed_client,
    wait_committed,
)

pytestmark = pytest.mark.integration

PBX, RECEIVED, ENRICHED, ROUTED, ASSIGNED, ALERTS = (
    topics.PBX_EVENTS.name, topics.CALLS_RECEIVED.name, topics.CALLS_ENRICHED.name,
    topics.CALLS_ROUTED.name, topics.LEADS_ASSIGNED.name, topics.ALERTS_SHOPPING_AROUND.name)


class Metrics:
    """One scrape of a service's /metrics."""

    def __init__(self, text: str) -> None:
        self.samples = [s for family in text_string_to_metric_families(text)
                        for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels`."""
        return sum(s.value for s in self.samples
                   if s.name == name and labels.items() <= s.labels.items())

    def labels(self, name: str) -> list[dict[str, str]]:
        return [s.labels for s in self.samples if s.name == name]


async def scrape(http: httpx.AsyncClient, services: Services) -> dict[str, Metrics]:
    found = {}
    for name, service in services.running.items():
        response = await http.get(f"{service.url}/metrics")
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-type"].startswith("text/plain")
        found[name] = Metrics(response.text)
    return found


async def until(http: httpx.AsyncClient, services: Services,
                check: Callable[[dict[str, Metrics]], list[str]], timeout: float = 30
                ) -> dict[str, Metrics]:
    """Scrapes until `check` finds nothing missing."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        metrics = await scrape(http, services)
        missing = check(metrics)
        if not missing:
            return metrics
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("counters that did not move:\n" + "\n".join(missing))
        await asyncio.sleep(0.5)




async def test_counters_move_as_a_call_flows(infra: Endpoints, services: Services):
    # Given an owned client and another salesperson's line
    client = await seed_client(infra.database_url, owned=True)
    _, other_line = await employee_with_line(infra.database_url)
    call_id, payload = generic_call(client.phone, dialed=other_line)
    async with httpx.AsyncClient(timeout=10) as http, \
            TopicWatch(infra.bootstrap, ROUTED, ALERTS) as watch:
        before = await scrape(http, services)
        # When the client calls the other salesperson (shopping around)
        await publish(infra.bootstrap, PBX, payload)
        (routed,) = await watch.wait_for(about(call_id, ROUTED))
        await watch.wait_for(about(call_id, ALERTS))
        await wait_committed(infra.bootstrap, group_id("assignment"), routed)
        destination = body(routed)["destination"]

        # Then every service counted what it received and what it published, by topic
        def moved(after: dict[str, Metrics]) -> list[str]:
            expected = [
                ("intake", "switchboard_received_messages_total", {"handler": PBX}),
                ("intake", "switchboard_published_messages_total",
                 {"destination": RECEIVED, "status": "success"}),
                ("lookup", "switchboard_received_messages_total", {"handler": RECEIVED}),
                ("lookup", "switchboard_published_messages_total", {"destination": ENRICHED}),
                ("lookup", "switchboard_published_messages_total", {"destination": ALERTS}),
                ("lookup", "switchboard_shopping_alerts_total", {}),
                ("router", "switchboard_received_messages_total", {"handler": ENRICHED}),
                ("router", "switchboard_published_messages_total", {"destination": ROUTED}),
                ("router", "switchboard_calls_routed_total", {"destination": destination}),
                ("assignment", "switchboard_received_messages_total", {"handler": ROUTED}),
                ("assignment", "switchboard_received_processed_messages_total",
                 {"handler": ROUTED, "status": "acked"}),
                # the handler latency histograms
                *[(svc, "switchboard_received_processed_messages_duration_seconds_count",
                   {"handler": topic})
                  for svc, topic in (("intake", PBX), ("lookup", RECEIVED),
                                     ("router", ENRICHED), ("assignment", ROUTED))],
            ]
            return [f"{svc} {name} {labels}" for svc, name, labels in expected
                    if after[svc].value(name, **labels) < before[svc].value(name, **labels) + 1]

        after = await until(http, services, moved)

    # ... every service labels its metrics with its name
    for name, metrics in after.items():
        assert {"app_name": name}.items() <= metrics.labels(
            "switchboard_received_messages_total")[0].items()


async def test_a_lead_counts_by_its_strategy(infra: Endpoints, services: Services):
    # Given a routing decision that names the client's owner (published as the router does)
    client = await seed_client(infra.database_url, owned=True)
    call_id = f"test-pbx:{uuid.uuid4().hex[:12]}"
    decision = CallRouted(
        event_id=uuid.uuid4(), occurred_at=utcnow(), call_id=call_id, caller=client.phone,
        client_id=client.client_id, destination=Destination.OWNER,
        employee_id=client.owner_id, employee_name=client.owner_name, reasons=["owned"])
    async with httpx.AsyncClient(timeout=10) as http, \
            TopicWatch(infra.bootstrap, ASSIGNED) as watch:
        before = await scrape(http, services)
        # When the assignment gets it, and the owner qualifies the call as commercial (a
        # ringing call alone is a contact, no lead)
        qualified = decision.model_copy(update={
            "event_id": uuid.uuid4(), "stage": Stage.QUALIFIED, "category": Category.COMMERCIAL})
        await publish(infra.bootstrap, ROUTED, decision.model_dump_json().encode(),
                      qualified.model_dump_json().encode())
        (lead,) = await watch.wait_for(about(call_id, ASSIGNED))
        strategy = body(lead)["strategy"]

        # Then the lead is counted by its strategy
        def moved(after: dict[str, Metrics]) -> list[str]:
            name = "switchboard_leads_assigned_total"
            now = after["assignment"].value(name, strategy=strategy)
            return [] if now >= before["assignment"].value(name, strategy=strategy) + 1 \
                else [f"assignment {name} strategy={strategy}"]

        await until(http, services, moved)


async def test_a_rejected_message_counts_by_its_source_topic(infra: Endpoints,
                                                            services: Services):
    name, labels = "switchboard_rejected_messages_total", {"service": "intake",
                                                           "source_topic": PBX}
    async with httpx.AsyncClient(timeout=10) as http:
        before = (await scrape(http, services))["intake"].value(name, **labels)
        await publish(infra.bootstrap, PBX, b"not json at all")
        await until(http, services, lambda after: [] if after["intake"].value(
            name, **labels) >= before + 1 else [f"intake {name} {labels}"])


async def test_consumer_lag_and_database_pools_are_exposed(services: Services):
    async with httpx.AsyncClient(timeout=10) as http:
        metrics = await scrape(http, services)
    consumed = {"intake": PBX, "lookup": RECEIVED, "router": ENRICHED, "assignment": ROUTED}
    for name, topic in consumed.items():
        lag = [s for s in metrics[name].samples if s.name == "switchboard_consumer_lag"
               and s.labels["group"] == group_id(name) and s.labels["topic"] == topic]
        assert sorted(int(s.labels["partition"]) for s in lag) == list(range(PARTITIONS)), name
        assert all(s.value >= 0 for s in lag)
    for name in ("intake", "lookup", "assignment"):
        pool = metrics[name]
        assert pool.labels("switchboard_db_pool_connections"), name
        assert pool.value("switchboard_db_pool_max_connections", pool=name) >= 1
        assert pool.value("switchboard_db_pool_connections", pool=name) >= 1  # min size


async def test_log_lines_are_json_with_the_call_id_and_no_caller_number(
        infra: Endpoints, services: Services):
    client = await seed_client(infra.database_url, owned=False)
    call_id, payload = generic_call(client.phone)
    async with TopicWatch(infra.bootstrap, ROUTED) as watch:
        await publish(infra.bootstrap, PBX, payload)
        (routed,) = await watch.wait_for(about(call_id, ROUTED))
    await wait_committed(infra.bootstrap, group_id("assignment"), routed)
    local = client.phone[2:]  # the number without +7, as some lines might spell it
    for name in ("intake", "lookup", "router", "assignment"):
        text = services.running[name].log_path.read_text(errors="replace")
        lines = [json.loads(line) for line in text.splitlines()
                 if line.startswith("{") and call_id in line]
        assert lines, f"no JSON line of {name} about {call_id}"
        assert all(line["call_id"] == call_id and line["service"] == name for line in lines)
        assert local not in text, f"{name} logged the caller's number unmasked"
