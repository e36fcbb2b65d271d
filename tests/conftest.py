"""Session-wide infrastructure for the tests beyond the unit layer.

One broker and one database per test session, chosen in this order: addresses from the
environment (SWITCHBOARD_KAFKA_BOOTSTRAP, SWITCHBOARD_DATABASE_URL), testcontainers when a
Docker daemon answers, else a locally started Kafka and PostgreSQL (the code of `dev up`).
Tests isolate themselves with random ids instead of cleaning up.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shared.settings import DatabaseSettings, KafkaSettings

if TYPE_CHECKING:
    from switchboard.devstack import SERVICES, Services

PARTITIONS = 3
# The connectors the intake under test knows: name -> signing secret.
CONNECTORS = {"test-pbx": "test-secret", "office-1": "office-secret"}
REPO = Path(__file__).resolve().parents[1]
RULES_ALWAYS_OPEN = REPO / "tests" / "integration" / "rules_always_open.yaml"


@dataclass(frozen=True)
class Endpoints:
    bootstrap: str
    database_url: str

    def env(self) -> dict[str, str]:
        return {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": self.bootstrap,
            "SWITCHBOARD_KAFKA_PARTITIONS": str(PARTITIONS),
            "SWITCHBOARD_DATABASE_URL": self.database_url,
        }


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def containers() -> Iterator[tuple[str, str]]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka, \
            PostgresContainer("postgres:15", driver=None) as postgres:
        yield kafka.get_bootstrap_server(), postgres.get_connection_url()


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
    from switchboard.devstack import Infrastructure

    # A fixed folder, so a later session reuses the formatted broker and the cluster.
    root = Path(os.environ.get("SWITCHBOARD_TEST_ROOT") or REPO / ".switchboard" / "test")
    given = ("bootstrap" in KafkaSettings().model_fields_set
             and "url" in DatabaseSettings().model_fields_set)
    with contextlib.ExitStack() as stack:
        if not given and docker_answers():
            bootstrap, url = stack.enter_context(containers())
            os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"] = bootstrap
            os.environ["SWITCHBOARD_DATABASE_URL"] = url
        stack_infra = Infrastructure(root, partitions=PARTITIONS, fast=True)
        stack.callback(stack_infra.stop)
        stack_infra.start(log=lambda *_: None)
        yield Endpoints(stack_infra.bootstrap, stack_infra.database_url)


@pytest.fixture(scope="session")
def services(infra: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The four services as separate processes against the real broker and database."""
    from switchboard.devstack import SERVICES, Services

    running = Services(tmp_path_factory.mktemp("services"), {
        **infra.env(),
        "SWITCHBOARD_INTAKE_CONNECTORS": json.dumps(CONNECTORS),
        # Decisions must not depend on the hour the tests run at.
        "SWITCHBOARD_ROUTER_RULES_FILE": str(RULES_ALWAYS_OPEN),
        # FastStream's lines per message, for the log test (services default to DEBUG)
        **{f"SWITCHBOARD_{name.upper()}_MESSAGE_LOG_LEVEL": "INFO" for name in SERVICES},
    }, usual_ports=False)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()
