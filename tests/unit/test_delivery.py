"""At-least-once: every consumer of every service commits only after its handler succeeded,
one batch of records at a time.

FastStream 0.7 fixes a subscriber's auto-commit when the subscriber is declared, so the
policy must be on the router the handlers are declared on (`shared.kafka.service_router`),
not only on the broker. What that router does on a real broker is tested in
tests/integration/test_delivery.py; here: every service declares on it, and nothing else."""

import ast
import importlib
from pathlib import Path

import pytest
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.middlewares import AckPolicy

from shared import batches

from switchboard.devstack import SERVICES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", SERVICES)
def test_every_subscriber_commits_after_success(service):
    broker = importlib.import_module(f"services.{service}.main").broker
    subscribers = list(broker.subscribers)
    assert subscribers, f"{service} consumes nothing"
    for subscriber in subscribers:
        assert subscriber.ack_policy is AckPolicy.NACK_ON_ERROR, subscriber
        assert subscriber.group_id == f"switchboard-{service}"
        # A batch at a time, one commit per batch; no sleep after an empty poll
        assert isinstance(subscriber, BatchSubscriber), subscriber
        assert isinstance(subscriber, batches._LongPoll), subscriber
        assert subscriber.max_records == batches.MAX_RECORDS
        assert subscriber.batch_timeout_ms == batches.POLL_TIMEOUT_MS


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
