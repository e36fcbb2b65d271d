"""At-least-once: every consumer of every service commits only after its handler succeeded,
one batch of records at a time.

FastStream 0.7 fixes a subscriber's auto-commit when the subscriber is declared, so the
policy must be on the router the handlers are declared on (`shared.kafka.service_router`),
not only on the broker. What that router does on a real broker is tested in
tests/integration/test_delivery.py; here: every service declares on it, and nothing else."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from faststream.middlewares import AckPolicy

from shared import batches

from switchboard.devstack import SERVICES

ROOT = Path(__file__).resolve().parents[2]


# Read in a process of its own, as `python -m services.<name>.main` declares them: a FastStream
# router has one parent, and other tests include the services' routers in brokers of their own.
_SUBSCRIBERS = """
import importlib, json, sys
from faststream.kafka.subscriber.usecase import BatchSubscriber
from shared import batches
found = {}
for service in sys.argv[1:]:
    broker = importlib.import_module(f"services.{service}.main").broker
    found[service] = [{
        "ack_policy": s.ack_policy.name, "group_id": s.group_id,
        "batch": isinstance(s, BatchSubscriber), "long_poll": isinstance(s, batches._LongPoll),
        "max_records": s.max_records, "batch_timeout_ms": s.batch_timeout_ms,
        "name": repr(s)} for s in broker.subscribers]
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def declared() -> dict[str, list[dict]]:
    made = subprocess.run([sys.executable, "-c", _SUBSCRIBERS, *SERVICES], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout.splitlines()[-1])


@pytest.mark.parametrize("service", SERVICES)
def test_every_subscriber_commits_after_success(service, declared):
    subscribers = declared[service]
    assert subscribers, f"{service} consumes nothing"
    for subscriber in subscribers:
        assert subscriber["ack_policy"] == AckPolicy.NACK_ON_ERROR.name, subscriber
        assert subscriber["group_id"] == f"switchboard-{service}"
        # A batch at a time, one commit per batch; no sleep after an empty poll
        assert subscriber["batch"] and subscriber["long_poll"], subscriber
        assert subscriber["max_records"] == batches.MAX_RECORDS
        assert subscriber["batch_timeout_ms"] == batches.POLL_TIMEOUT_MS


@pytest.mark.parametrize("service", SERVICES)
def test_every_handler_is_declared_on_the_service_router(service):
    tree = ast.parse((ROOT / "services" / service / "handlers.py").read_text())
    routers = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and isinstance(node.value, ast.Call)
               and getattr(node.value.func, "id", None) == "service_router"
               for target in node.targets if isinstance(target, ast.Name)}
    decorators = [decorator for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef)
                  for decorator in node.decorator_list if isinstance(decorator, ast.Call)]
    # `@router.subscriber(...)`, or `@batch_subscriber(router, ...)` (shared.batches)
    declared = {decorator.func.value.id for decorator in decorators
                if isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "subscriber"
                and isinstance(decorator.func.value, ast.Name)}
    declared |= {decorator.args[0].id for decorator in decorators
                 if getattr(decorator.func, "id", None) == "batch_subscriber"
                 and decorator.args and isinstance(decorator.args[0], ast.Name)}
    assert declared, f"{service} declares no subscriber in handlers.py"
    assert declared <= routers, f"{service} declares on {declared - routers}, not service_router()"
