"""Which TCP port a local server of the stack listens on."""

from __future__ import annotations

import socket


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
