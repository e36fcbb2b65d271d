"""Apache Kafka (KRaft, one combined broker+controller node) and PostgreSQL as local
processes, without Docker: what `switchboard dev up` and the test fixtures start.

- `kafka_jars`: where the Kafka broker comes from (Maven Central, cached);
  `kafka`: the broker as a local process.
- `postgres`: the PostgreSQL server of the machine, run as the `postgres` user when root.
- `processes`: how a local process is started and stopped (psutil); `ports`: which port a
  server listens on; `logs`: the log files; `paths`: the clone and the download cache.
- `leftovers`: what `switchboard dev down` stops of what a previous start left running.
"""

from switchboard.infra.kafka import LocalKafka
from switchboard.infra.leftovers import stop_from_pidfiles
from switchboard.infra.paths import REPO_ROOT
from switchboard.infra.ports import free_port
from switchboard.infra.postgres import LocalPostgres

__all__ = ["REPO_ROOT", "LocalKafka", "LocalPostgres", "free_port", "stop_from_pidfiles"]
