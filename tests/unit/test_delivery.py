"""At-least-once: every consumer of every service commits only after its handler succeeded."""

import importlib

import pytest
from faststream.middlewares import AckPolicy

from switchboard.devstack import SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_every_subscriber_commits_after_success(service):
    broker = importlib.import_module(f"services.{service}.main").broker
    subscribers = list(broker.subscribers)
    assert subscribers, f"{service} consumes nothing"
    for subscriber in subscribers:
        assert subscriber.ack_policy is AckPolicy.NACK_ON_ERROR, subscriber
        # Fixed when the subscriber is declared: a broker-level policy alone leaves it on.
        assert subscriber._connection_args["enable_auto_commit"] is False, subscriber
        assert subscriber.group_id == f"switchboard-{service}"
