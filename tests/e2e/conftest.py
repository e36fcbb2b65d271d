from __future__ import annotations

from collections.abc import Iterator

import pytest

from switchboard.devstack import Services
from tests.conftest import Endpoints


@pytest.fixture(scope="session")
def services(infra: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The four services as separate processes against the real broker and database."""
    running = Services(tmp_path_factory.mktemp("services"), infra.env())
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()
