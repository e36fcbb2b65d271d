"""What `switchboard dev down` (a separate process) finds still running of a Kafka or a
PostgreSQL that a start left behind: each leaves a file in its root that says how to stop it."""

from __future__ import annotations

from pathlib import Path

from switchboard.infra.kafka import PID_FILE as KAFKA_PID_FILE
from switchboard.infra.kafka import stop_kafka_from_pid_file
from switchboard.infra.postgres import DATADIR_FILE, stop_postgres


def stop_from_pidfiles(root: Path) -> list[str]:
    """Stop what a LocalKafka or LocalPostgres started in `root` or in a folder directly
    under it (e.g. `.switchboard/kafka`) left running; returns what was stopped."""
    root = root.resolve()
    stopped = []
    for pid_file in sorted([*root.glob(KAFKA_PID_FILE), *root.glob(f"*/{KAFKA_PID_FILE}")]):
        pid = pid_file.read_text().strip()
        if stop_kafka_from_pid_file(pid_file):
            stopped.append(f"kafka (pid {pid})")
    for recorded in sorted([*root.glob(DATADIR_FILE), *root.glob(f"*/{DATADIR_FILE}")]):
        data = Path(recorded.read_text().strip())
        if data.exists() and stop_postgres(data):
            stopped.append(f"postgresql ({data})")
    return stopped
