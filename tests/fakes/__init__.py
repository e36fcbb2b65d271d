"""In-memory stand-ins for the services' ports, one set for every test that runs handlers or
use cases without PostgreSQL: each subclasses the Protocol it stands in for, so a changed
port breaks the fake at import time, not the test at run time."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


@contextmanager
def all_or_nothing(store: object, state: Iterable[str]) -> Iterator[None]:
    """A fake's transaction: the `state` attributes of `store` as they were if the block
    raises."""
    before = {name: copy.deepcopy(getattr(store, name)) for name in state}
    try:
        yield
    except BaseException:
        for name, value in before.items():
            setattr(store, name, value)
        raise
