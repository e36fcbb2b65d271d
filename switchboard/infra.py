"""Apache Kafka (KRaft, one combined broker+controller node) and PostgreSQL as local
processes, without Docker: what `switchboard dev up` and the test fixtures start.

- Kafka runs from the Maven Central jars named by `deploy/kafka/pom.xml` (the only place
  that names the Kafka version), fetched once by Maven into a cache folder.
- PostgreSQL runs from the server binaries of the machine (`pg_config --bindir`, else the
  newest /usr/lib/postgresql/*/bin). `initdb` and `pg_ctl` refuse to run as root, so as root
  they run as the `postgres` user (`runuser`), which must own the data directory.
- Every process gets its own session (process group): a Ctrl-C in the terminal reaches only
  the parent, which then stops them in order.
- Each component leaves files in its root folder that let `stop_from_pidfiles` (that is,
  `switchboard dev down`, a separate process) stop what a previous start left running.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
DATABASE = "switchboard"

_KAFKA_PID = "kafka.pid"
_PG_DATADIR = "postgres.datadir"  # holds the data directory's path (it may live outside root)


# --------------------------------------------------------------------------- helpers


def default_cache_dir() -> Path:
    """SWITCHBOARD_CACHE_DIR, else ~/.cache/switchboard (the only environment read here)."""
    given = os.environ.get("SWITCHBOARD_CACHE_DIR")
    return Path(given) if given else Path.home() / ".cache" / "switchboard"


def free_port(preferred: int | None = None) -> int:
    """`preferred` if it can be bound on 127.0.0.1, else a port the kernel picks.

    SO_REUSEADDR as Kafka and PostgreSQL set it: a port whose only sockets are in TIME_WAIT
    (closed connections of a previous run) counts as free.
    """
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


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


def _rotate(log: Path) -> None:
    """Keep the previous run's log as `<name>.1`, so a log holds one run."""
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))


def _alive(pid: int) -> bool:
    """Running and not a zombie (a zombie still answers kill(pid, 0))."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM to the process group `pid` leads, then SIGKILL after `timeout` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


# --------------------------------------------------------------------------- Kafka


def kafka_version(pom: Path = KAFKA_POM) -> str:
    """The <kafka.version> property of deploy/kafka/pom.xml."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise RuntimeError(f"{pom} has no <kafka.version> property")
    return node.text.strip()


def ensure_kafka_jars(cache_dir: Path | None = None) -> Path:
    """The folder of the Kafka broker jars, `<cache_dir>/kafka-<version>/libs`.

    `cache_dir` defaults to `default_cache_dir()`. The first call runs Maven (needs Maven
    Central, or a populated ~/.m2); a marker file written after a complete copy makes later
    calls skip Maven. A file lock makes concurrent first calls (two test sessions) safe.
    """
    version = kafka_version()
    home = (cache_dir or default_cache_dir()) / f"kafka-{version}"
    libs, marker = home / "libs", home / "libs.complete"
    if marker.exists() and libs.is_dir():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with (home / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and libs.is_dir():
            return libs
        mvn = shutil.which("mvn")
        if not mvn:
            raise RuntimeError("Maven (`mvn`) is needed once to fetch the Kafka jars; "
                               "install it (apt-get install maven)")
        partial = home / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={partial}"],
            capture_output=True, text=True,
        )
        jars = sorted(p.name for p in partial.glob("*.jar")) if partial.is_dir() else []
        if result.returncode != 0 or f"kafka_2.13-{version}.jar" not in jars:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise RuntimeError(f"fetching the Kafka {version} jars with Maven failed "
                               f"(exit {result.returncode}):\n{output}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        marker.write_text("\n".join(jars) + "\n")
    return libs


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
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)

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
        _stop_kafka_pidfile(self.root / _KAFKA_PID)

        previous = self._previous_ports()
        self.port = self.port or free_port(previous[0])
        self.controller_port = self.controller_port or free_port(previous[1])
        if self.controller_port == self.port:
            self.controller_port = free_port()
        (self.root / "server.properties").write_text(self._server_properties())
        (self.root / "log4j2.properties").write_text(_LOG4J2)
        _rotate(self.log_path)

        java = shutil.which("java")
        if not java:
            raise RuntimeError("Java 17+ (`java`) is needed to run Kafka")
        jvm = [java, f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
               f"-Dkafka.logs.dir={self.root}", "-cp", f"{libs}/*"]
        properties = str(self.root / "server.properties")
        if not (self.root / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            formatted = subprocess.run(
                jvm + ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                       "-c", properties],
                capture_output=True, text=True, cwd=self.root,
            )
            if formatted.returncode != 0:
                raise RuntimeError(f"formatting the Kafka storage in {self.root / 'data'} "
                                   f"failed:\n{formatted.stdout}{formatted.stderr}")

        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                jvm + ["kafka.Kafka", properties],
                cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.root / _KAFKA_PID).write_text(f"{self._process.pid}\n")

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
        return self.bootstrap

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL after `timeout` seconds. Idempotent."""
        if self._process is not None:
            _terminate(self._process.pid, timeout)
            self._process.wait()
        self._forget()

    def kill(self) -> None:
        """SIGKILL, as a crash would (the next start recovers the logs)."""
        if self._process is not None:
            _terminate(self._process.pid, 0)
            self._process.wait()
        self._forget()

    def _forget(self) -> None:
        self._process = None
        (self.root / _KAFKA_PID).unlink(missing_ok=True)

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


def _stop_kafka_pidfile(pid_file: Path, timeout: float = 30) -> bool:
    """Stop the broker `pid_file` names, if that process is still a Kafka of this root."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    stopped = False
    if _alive(pid) and str(pid_file.parent / "server.properties") in _cmdline(pid) \
            and "kafka.Kafka" in _cmdline(pid):
        _terminate(pid, timeout)
        stopped = True
    pid_file.unlink(missing_ok=True)
    return stopped


# --------------------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path:
    """The PostgreSQL server binaries: `pg_config --bindir` when it has `initdb` (on Debian
    pg_config may come from libpq-dev of another major version), else the newest
    /usr/lib/postgresql/<major>/bin."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(out.stdout.strip())
        if out.returncode == 0 and (bindir / "initdb").exists():
            return bindir
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    candidates.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return candidates[-1]


def _as_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(args: list[str]) -> list[str]:
    """`args` as the `postgres` user when we are root (initdb and pg_ctl refuse root)."""
    return ["runuser", "-u", "postgres", "--", *args] if _as_root() else args


def _give_to_postgres(path: Path) -> None:
    if _as_root():
        shutil.chown(path, "postgres", "postgres")


def _postgres_can_enter(path: Path) -> bool:
    """Whether the `postgres` user can traverse `path` and all its parents."""
    if not _as_root():
        return True
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
                          cwd="/").returncode == 0


def _pg_ctl(data: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(_as_postgres([str(pg_bindir() / "pg_ctl"), "-D", str(data), *args]),
                          capture_output=True, text=True, cwd="/", check=check,
                          stdin=subprocess.DEVNULL)


def _pg_running(data: Path) -> bool:
    return (data / "postmaster.pid").exists() and _pg_ctl(data, "status").returncode == 0


def _pg_stop(data: Path, timeout: float = 60) -> bool:
    if not _pg_running(data):
        return False
    result = _pg_ctl(data, "stop", "-m", "fast", "-w", "-t", str(int(timeout)))
    if result.returncode != 0 and _pg_running(data):
        raise RuntimeError(f"pg_ctl stop failed for {data}:\n{result.stdout}{result.stderr}")
    return True


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster listening on 127.0.0.1 only (TCP, no Unix socket), trust auth,
    superuser `postgres`, with a database `switchboard`.

    The cluster lives in `root/data`, unless the `postgres` user cannot reach `root` (as root,
    the server runs as `postgres`; e.g. a clone under /root or pytest's 0700 /tmp/pytest-of-root):
    then it lives in /tmp/switchboard-postgres-<hash of root>/data, which a later start with the
    same root reuses, and which is left on disk after stop() like `root/data` would be.
    `root/postgres.datadir` always names the data directory. `fast` turns fsync, synchronous
    commit and full page writes off: much faster, and a crash of the machine (not of the
    server) may then corrupt the cluster, so tests only.
    """

    root: Path
    port: int | None = None
    fast: bool = False
    data_dir: Path | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalPostgres has no port before start()")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def log_path(self) -> Path:
        return (self.data_dir or self.root / "data").parent / "postgres.log"

    def start(self, timeout: float = 60) -> str:
        """Start the cluster (running initdb the first time) and create the database if it
        is missing; returns its URL. A server a previous start left running is stopped first."""
        if self.data_dir is not None and self.port is not None and _pg_running(self.data_dir):
            return self.url
        self.root = self.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        data = self.data_dir = self._data_dir()
        (self.root / _PG_DATADIR).write_text(f"{data}\n")
        if not (data / "PG_VERSION").exists():
            self._initdb(data)
        _pg_stop(data)

        port_file = self.root / "postgres.port"
        previous = int(port_file.read_text()) if port_file.exists() else None
        self.port = self.port or free_port(previous)
        _rotate(self.log_path)
        self.log_path.touch()
        _give_to_postgres(self.log_path)
        options = f"-p {self.port}"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        started = _pg_ctl(data, "start", "-w", "-t", str(int(timeout)), "-l", str(self.log_path),
                          "-o", options)
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start (pg_ctl: {started.stdout.strip()} "
                               f"{started.stderr.strip()}); {self.log_path} ends:\n"
                               f"{_tail(self.log_path)}")
        port_file.write_text(f"{self.port}\n")
        self._create_database()
        return self.url

    def stop(self) -> None:
        """pg_ctl stop -m fast (disconnects clients, no recovery needed next time). Idempotent."""
        if self.data_dir is not None:
            _pg_stop(self.data_dir)

    def _data_dir(self) -> Path:
        recorded = self.root / _PG_DATADIR
        if recorded.exists():
            data = Path(recorded.read_text().strip())
            if (data / "PG_VERSION").exists():
                return data
        if _postgres_can_enter(self.root):
            return self.root / "data"
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        base = Path(tempfile.gettempdir()) / f"switchboard-postgres-{digest}"
        base.mkdir(mode=0o700, exist_ok=True)
        if base.is_symlink() or (_as_root() and base.owner() not in ("postgres", "root")):
            raise RuntimeError(f"{base} exists and is not ours")
        _give_to_postgres(base)
        return base / "data"

    def _initdb(self, data: Path) -> None:
        shutil.rmtree(data, ignore_errors=True)  # a half-made cluster from an interrupted initdb
        data.mkdir(mode=0o700, parents=True)
        _give_to_postgres(data)
        args = [str(pg_bindir() / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--locale=C"]
        if self.fast:
            args.append("--no-sync")
        result = subprocess.run(_as_postgres(args), capture_output=True, text=True, cwd="/",
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed for {data}:\n{result.stdout}{result.stderr}")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# switchboard.infra: TCP on the loopback only, no Unix socket\n"
                       "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")

    def _create_database(self) -> None:
        psql = [str(pg_bindir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-tA", "-c"]
        exists = subprocess.run(psql + [f"select 1 from pg_database where datname = '{DATABASE}'"],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if exists.returncode != 0:
            raise RuntimeError(f"psql failed on {self.url}: {exists.stderr}")
        if exists.stdout.strip() != "1":
            subprocess.run(psql + [f'create database "{DATABASE}"'], capture_output=True,
                           text=True, check=True, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- dev down


def stop_from_pidfiles(root: Path) -> list[str]:
    """Stop what a LocalKafka or LocalPostgres started in `root` or in a folder directly
    under it (e.g. `.switchboard/kafka`) left running; returns what was stopped."""
    root = root.resolve()
    stopped = []
    for pid_file in sorted([*root.glob(_KAFKA_PID), *root.glob(f"*/{_KAFKA_PID}")]):
        pid = pid_file.read_text().strip()
        if _stop_kafka_pidfile(pid_file):
            stopped.append(f"kafka (pid {pid})")
    for recorded in sorted([*root.glob(_PG_DATADIR), *root.glob(f"*/{_PG_DATADIR}")]):
        data = Path(recorded.read_text().strip())
        if data.exists() and _pg_stop(data):
            stopped.append(f"postgresql ({data})")
    return stopped
