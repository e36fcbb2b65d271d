"""The local stack without Docker: Kafka and PostgreSQL (unless the environment names them),
the topics, the migrations and the services (the desk too) as separate processes.

`switchboard dev up` and the test fixtures both use this module.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from shared import db
from shared.kafka import create_topics
from shared.settings import SERVICE_SETTINGS, DatabaseSettings, KafkaSettings
from switchboard.infra import LocalKafka, LocalPostgres, free_port, stop_from_pidfiles
from switchboard.infra.logs import tail
from switchboard.infra.processes import find_running, start_process, stop_process_tree

SERVICES = tuple(SERVICE_SETTINGS)
# Where a service finds another one's HTTP API, when both are started here (the desk comes
# after the lookup and the assignment): service -> {its setting -> the service it names}.
PEERS: dict[str, dict[str, str]] = {"desk": {"SWITCHBOARD_DESK_LOOKUP_URL": "lookup",
                                             "SWITCHBOARD_DESK_ASSIGNMENT_URL": "assignment"}}


@dataclass
class Infrastructure:
    """Kafka and PostgreSQL: given by the environment, or started here."""

    root: Path
    partitions: int = 6
    fast: bool = False  # PostgreSQL without fsync: for tests only
    kafka: LocalKafka | None = None
    postgres: LocalPostgres | None = None
    bootstrap: str = ""
    database_url: str = ""

    def start(self, log=print) -> None:
        # Only the real environment names an existing stack: a `.env` file does not.
        kafka_env, db_env = KafkaSettings(_env_file=None), DatabaseSettings(_env_file=None)
        if "bootstrap" in kafka_env.model_fields_set:
            self.bootstrap = kafka_env.bootstrap
            log(f"using the Kafka broker named by the environment: {self.bootstrap}")
        else:
            log("starting Apache Kafka (KRaft) from the Maven Central jars...")
            self.kafka = LocalKafka(self.root / "kafka", partitions=self.partitions)
            self.bootstrap = self.kafka.start()
        if "url" in db_env.model_fields_set:
            self.database_url = db_env.url
            log("using the PostgreSQL database named by the environment")
        else:
            log("starting PostgreSQL from the local server binaries...")
            self.postgres = LocalPostgres(self.root / "postgres", fast=self.fast)
            self.database_url = self.postgres.start()
        settings = KafkaSettings(bootstrap=self.bootstrap, partitions=self.partitions)
        created = asyncio.run(create_topics(settings))
        log(f"topics: {len(created)} created ({self.partitions} partitions each)")
        applied = asyncio.run(db.upgrade(self.database_url))
        log(f"migrations: {', '.join(applied) if applied else 'up to date'}")

    def stop(self) -> None:
        if self.kafka:
            self.kafka.stop()
        if self.postgres:
            self.postgres.stop()

    def env(self) -> dict[str, str]:
        return {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": self.bootstrap,
            "SWITCHBOARD_KAFKA_PARTITIONS": str(self.partitions),
            "SWITCHBOARD_DATABASE_URL": self.database_url,
        }


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: psutil.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (the service drains and commits), SIGKILL after `timeout` seconds."""
        stop_process_tree(self.process, timeout)

    def kill(self) -> None:
        """kill -9, for the fault tests."""
        stop_process_tree(self.process, 0)


@dataclass
class Services:
    """The services, each a separate process writing its log under `root/logs`."""

    root: Path
    env: dict[str, str]
    # The usual ports (8001-8005) when free, for people; tests and benchmarks take ports the
    # kernel picks, so that two stacks on one machine never answer for each other.
    usual_ports: bool = True
    running: dict[str, ServiceProcess] = field(default_factory=dict)

    def start(self, name: str, port: int | None = None, extra_env: dict[str, str] | None = None
              ) -> ServiceProcess:
        prefix = SERVICE_SETTINGS[name].model_config["env_prefix"]
        # The port asked for (or the usual one) when free, else any free one.
        usual = SERVICE_SETTINGS[name].model_fields["port"].default if self.usual_ports else None
        port = free_port(port or usual)
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        peers = {variable: self.running[peer].url
                 for variable, peer in PEERS.get(name, {}).items() if peer in self.running}
        env = {**os.environ, **self.env, **peers, **(extra_env or {}),
               f"{prefix}PORT": str(port)}
        process = start_process([sys.executable, "-m", f"services.{name}.main"], log_path,
                                env=env)
        (self.root / "pids").mkdir(parents=True, exist_ok=True)
        (self.root / "pids" / f"{name}.pid").write_text(str(process.pid))
        service = ServiceProcess(name, port, process, log_path)
        self.running[name] = service
        return service

    def start_all(self, timeout: float = 90) -> None:
        for name in SERVICES:
            self.start(name)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for name in names or list(self.running):
            service = self.running[name]
            while True:
                if service.process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {service.process.returncode}; "
                        f"its log ({service.log_path}) ends:\n{tail(service.log_path)}"
                    )
                try:
                    if httpx.get(f"{service.url}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{name} not ready after {timeout:.0f}s; its log ends:\n"
                        f"{tail(service.log_path)}"
                    )
                time.sleep(0.3)

    def stop_all(self) -> None:
        for service in reversed(list(self.running.values())):
            service.stop()
            (self.root / "pids" / f"{service.name}.pid").unlink(missing_ok=True)
        self.running.clear()

    def urls(self) -> dict[str, str]:
        return {
            f"SWITCHBOARD_{name.upper()}_URL": service.url
            for name, service in self.running.items()
        }


DEV_CONNECTOR = "dev"


def dev_connector(root: Path) -> dict[str, str]:
    """The development connector: a name and a secret kept in `root`, for signing webhooks to
    the intake. Returns the variables for dev.env and the intake's environment."""
    path = root / "dev-connector.secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    secret = path.read_text().strip()
    return {
        "SWITCHBOARD_DEV_CONNECTOR": DEV_CONNECTOR,
        "SWITCHBOARD_DEV_SECRET": secret,
        "SWITCHBOARD_INTAKE_CONNECTORS": json.dumps({DEV_CONNECTOR: secret}),
    }


def write_dev_env(root: Path, values: dict[str, str]) -> Path:
    path = root / "dev.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def stop_dev_up(root: Path, timeout: float = 90) -> list[str]:
    """Ask a running `dev up` to stop (SIGTERM): it stops what it started, in order. If it
    has not exited within `timeout` seconds, it and what it started get SIGKILL."""
    pid_file = root / "dev-up.pid"
    if not pid_file.exists():
        return []
    pid = int(pid_file.read_text())
    pid_file.unlink()
    dev_up = find_running(pid, "switchboard")
    return [f"dev up (pid {pid})"] if dev_up and stop_process_tree(dev_up, timeout) else []


def stop_leftovers(root: Path) -> list[str]:
    """What `switchboard dev down` does: stop whatever a `dev up` in `root` left running."""
    stopped = []
    for pid_file in sorted((root / "pids").glob("*.pid")) if (root / "pids").exists() else []:
        service = find_running(int(pid_file.read_text()), f"services.{pid_file.stem}.main")
        if service is not None and stop_process_tree(service, 10):
            stopped.append(pid_file.stem)
        pid_file.unlink()
    return stopped + stop_from_pidfiles(root)
