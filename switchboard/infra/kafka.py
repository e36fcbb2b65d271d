"""Apache Kafka as a local process: one node in KRaft combined mode (broker and controller),
listening on 127.0.0.1, from the jars of `kafka_jars`."""

from __future__ import annotations

import base64
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from switchboard.infra.kafka_jars import ensure_kafka_jars
from switchboard.infra.logs import rotate
from switchboard.infra.ports import free_port
from switchboard.infra.processes import find_running, start_process, stop_process_tree

PID_FILE = "kafka.pid"  # in the broker's root: what `dev down` stops

_LOG4J2 = """\
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.coordinator.name = org.apache.kafka.coordinator.common.runtime.CoordinatorRuntime
logger.coordinator.level = WARN
"""


def _errors_then_tail(path: Path, lines: int = 30) -> str:
    """The first ERROR/FATAL lines of a Kafka log (the cause; its shutdown noise follows)
    and the tail."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    errors = [line for line in text if " ERROR " in line or " FATAL " in line][:5]
    head = "first errors:\n" + "\n".join(errors) + "\n...\n" if errors else ""
    return head + "\n".join(text[-lines:])


def _api_versions_answered(port: int, timeout: float = 1.0) -> bool:
    """An ApiVersions v0 round trip. A KRaft broker starts processing requests on its
    listener only after it is unfenced, so an answer means it can serve clients."""
    client = b"switchboard-infra"
    request = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(request)) + request)
            header = b""
            while len(header) < 10:
                chunk = s.recv(10 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    _size, correlation, error = struct.unpack(">iih", header)
    return correlation == 7 and error == 0


@dataclass
class LocalKafka:
    """One Kafka node in KRaft combined mode (broker and controller), listening on 127.0.0.1.

    `root` holds server.properties, log4j2.properties, the data (`data/`), the log of the
    current run (`kafka.log`, the previous one is `kafka.log.1`) and `kafka.pid`.
    The quorum is static (`controller.quorum.voters`), so the ports may change between runs
    of the same storage; without `port`, the previous run's ports are preferred when free.
    `auto_create_topics` is Kafka's own default (True); production-like setups disable it.
    """

    root: Path
    port: int | None = None
    partitions: int = 6
    cache_dir: Path | None = None
    auto_create_topics: bool = True
    heap: str = "512m"
    controller_port: int | None = field(default=None, repr=False)
    _process: psutil.Popen | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalKafka has no port before start()")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def log_path(self) -> Path:
        return self.root / "kafka.log"

    def start(self, timeout: float = 120) -> str:
        """Start the broker and wait until it answers; returns the bootstrap address.

        Storage already formatted in `root` is reused (topics and offsets survive). A broker
        a previous start left running on this root is stopped first. `timeout` does not
        cover the one-time jar download.
        """
        if self.pid is not None:
            return self.bootstrap
        self.root = self.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        libs = ensure_kafka_jars(self.cache_dir)
        stop_kafka_from_pid_file(self.root / PID_FILE)

        previous = self._previous_ports()
        self.port = self.port or free_port(previous[0])
        self.controller_port = self.controller_port or free_port(previous[1])
        if self.controller_port == self.port:
            self.controller_port = free_port()
        (self.root / "server.properties").write_text(self._server_properties())
        (self.root / "log4j2.properties").write_text(_LOG4J2)
        rotate(self.log_path)

        jvm = self._jvm(libs)
        properties = str(self.root / "server.properties")
        if not (self.root / "data" / "meta.properties").exists():
            self._format_storage(jvm, properties)
        self._process = start_process(jvm + ["kafka.Kafka", properties], self.log_path,
                                      cwd=self.root)
        (self.root / PID_FILE).write_text(f"{self._process.pid}\n")
        self._wait_until_it_answers(timeout)
        return self.bootstrap

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL after `timeout` seconds. Idempotent."""
        if self._process is not None:
            stop_process_tree(self._process, timeout)
        self._forget()

    def kill(self) -> None:
        """SIGKILL, as a crash would (the next start recovers the logs)."""
        if self._process is not None:
            stop_process_tree(self._process, 0)
        self._forget()

    def _jvm(self, libs: Path) -> list[str]:
        java = shutil.which("java")
        if not java:
            raise RuntimeError("Java 17+ (`java`) is needed to run Kafka")
        return [java, f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.root}", "-cp", f"{libs}/*"]

    def _format_storage(self, jvm: list[str], properties: str) -> None:
        """KRaft storage must be formatted with a cluster id before the first start."""
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        formatted = subprocess.run(
            jvm + ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                   "-c", properties],
            capture_output=True, text=True, cwd=self.root,
        )
        if formatted.returncode != 0:
            raise RuntimeError(f"formatting the Kafka storage in {self.root / 'data'} "
                               f"failed:\n{formatted.stdout}{formatted.stderr}")

    def _wait_until_it_answers(self, timeout: float) -> None:
        assert self._process is not None and self.port is not None
        deadline = time.monotonic() + timeout
        while not _api_versions_answered(self.port):
            if self._process.poll() is not None:
                code = self._process.returncode
                self._forget()
                raise RuntimeError(f"Kafka exited with {code} while starting; {self.log_path}: "
                                   f"{_errors_then_tail(self.log_path)}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"Kafka did not answer on {self.bootstrap} within "
                                   f"{timeout:.0f}s; {self.log_path}: "
                                   f"{_errors_then_tail(self.log_path)}")
            time.sleep(0.2)

    def _forget(self) -> None:
        self._process = None
        (self.root / PID_FILE).unlink(missing_ok=True)

    def _previous_ports(self) -> tuple[int | None, int | None]:
        try:
            text = (self.root / "server.properties").read_text()
        except OSError:
            return None, None
        found = [re.search(rf"{name}://127\.0\.0\.1:(\d+)", text)
                 for name in ("PLAINTEXT", "CONTROLLER")]
        return tuple(int(m.group(1)) if m else None for m in found)  # type: ignore[return-value]

    def _server_properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": self.root / "data",
            "num.partitions": self.partitions,
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            # Kafka 4 holds each offset commit for 5 ms to batch it with others; our consumers
            # commit after every message, so that pause would bound them to ~150 messages/s.
            "group.coordinator.append.linger.ms": 0,
            # After a kill -9 the restarted node waits for its previous broker session to
            # expire before it registers again (9 s by default).
            "broker.heartbeat.interval.ms": 1000,
            "broker.session.timeout.ms": 4000,
            "auto.create.topics.enable": str(self.auto_create_topics).lower(),
            "num.recovery.threads.per.data.dir": 1,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())


def stop_kafka_from_pid_file(pid_file: Path, timeout: float = 30) -> bool:
    """Stop the broker `pid_file` names, if that process is still a Kafka of this root."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    broker = find_running(pid, str(pid_file.parent / "server.properties"), "kafka.Kafka")
    stopped = broker is not None and stop_process_tree(broker, timeout)
    pid_file.unlink(missing_ok=True)
    return stopped
