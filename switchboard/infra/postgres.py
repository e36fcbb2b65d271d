"""PostgreSQL as a local server, from the server binaries of the machine (`pg_config
--bindir`, else the newest /usr/lib/postgresql/*/bin).

`initdb` and `pg_ctl` refuse to run as root, so as root they run as the `postgres` user
(`runuser`), which must own the data directory. `pg_ctl start` detaches the server into a
session of its own; `pg_ctl stop` stops it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.infra.logs import rotate, tail
from switchboard.infra.ports import free_port

DATABASE = "switchboard"
DATADIR_FILE = "postgres.datadir"  # holds the data directory's path (it may live outside root)


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


def _pg_ctl(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_as_postgres([str(pg_bindir() / "pg_ctl"), "-D", str(data), *args]),
                          capture_output=True, text=True, cwd="/", stdin=subprocess.DEVNULL)


def _pg_running(data: Path) -> bool:
    return (data / "postmaster.pid").exists() and _pg_ctl(data, "status").returncode == 0


def stop_postgres(data: Path, timeout: float = 60) -> bool:
    """`pg_ctl stop -m fast` on the server of `data`, if it runs; returns whether it ran."""
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
        (self.root / DATADIR_FILE).write_text(f"{data}\n")
        if not (data / "PG_VERSION").exists():
            self._initdb(data)
        stop_postgres(data)

        port_file = self.root / "postgres.port"
        previous = int(port_file.read_text()) if port_file.exists() else None
        self.port = self.port or free_port(previous)
        rotate(self.log_path)
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
                               f"{tail(self.log_path, 40)}")
        port_file.write_text(f"{self.port}\n")
        self._create_database()
        return self.url

    def stop(self) -> None:
        """pg_ctl stop -m fast (disconnects clients, no recovery needed next time). Idempotent."""
        if self.data_dir is not None:
            stop_postgres(self.data_dir)

    def _data_dir(self) -> Path:
        recorded = self.root / DATADIR_FILE
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
