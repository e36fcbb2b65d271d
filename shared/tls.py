"""TLS client contexts for Kafka and PostgreSQL, from the files the settings name."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(prefix: str, ca_file: Path | None, cert_file: Path | None,
                   key_file: Path | None) -> ssl.SSLContext:
    """Checks the server's certificate against `ca_file` (else the system's trust store) and
    presents a client certificate when one is configured. A file that cannot be read is
    reported by the variable that names it (`<prefix>SSL_CA_FILE`, ...)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"{prefix}SSL_CA_FILE={ca_file}: {e}") from e
    if cert_file:
        try:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        except (OSError, ssl.SSLError) as e:
            raise ValueError(f"{prefix}SSL_CERT_FILE={cert_file} / "
                             f"{prefix}SSL_KEY_FILE={key_file}: {e}") from e
    return context
