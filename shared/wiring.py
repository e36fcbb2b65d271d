"""The typed dependencies object of a service: everything its entry points (Kafka handlers,
HTTP routes) work with, built once by the service's `main.py`, and with fakes by the tests.

It sits in the broker's context under a key made from its own class, so a handler names the
class (`deps: Lookup = Lookup.inject()`): a rename breaks at import time, and no string key is
spelled anywhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Self

from faststream.kafka import KafkaBroker

from shared.kafka import Context


class Dependencies:
    """Base of a service's dependencies dataclass."""

    @classmethod
    def context_key(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def install(self, broker: KafkaBroker) -> Self:
        """Puts this object where the broker's handlers find it."""
        broker.context.set_global(self.context_key(), self)
        return self

    @classmethod
    def of(cls, broker: KafkaBroker) -> Self:
        """The installed object. Missing is the composition root's fault, not the input's:
        the message is not rejected, it stays uncommitted."""
        found = broker.context.get(cls.context_key())
        if not isinstance(found, cls):
            raise RuntimeError(f"no {cls.__name__} installed on the broker: "
                               "the service's main.py builds it")
        return found

    @classmethod
    def provider(cls, broker: KafkaBroker) -> Callable[[], Awaitable[Self]]:
        """A FastAPI dependency that returns the installed object: `Depends(Lookup.provider(b))`.
        Async, so FastAPI calls it on the event loop: a sync dependency is run in a worker
        thread, a hand-off per request that costs more than the look-up."""

        async def installed() -> Self:
            return cls.of(broker)

        return installed

    @classmethod
    def inject(cls) -> Any:
        """The default of a handler's parameter: `deps: Lookup = Lookup.inject()`."""
        return _Installed(cls)


class _Installed(Context):
    """The handler's parameter resolved to the installed object. FastStream's own look-up by
    name would not do: it reads a dotted key as a path of attributes (`services` ->
    `.lookup` ...), and it leaves a missing value to the argument's validation, whose error
    would reject the message as bad input."""

    def __init__(self, deps: type[Dependencies]) -> None:
        super().__init__(deps.context_key())
        self.deps = deps

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        found = kwargs["context__"].get(self.deps.context_key())
        if not isinstance(found, self.deps):
            raise RuntimeError(f"no {self.deps.__name__} installed on the broker: "
                               "the service's main.py builds it")
        kwargs[self.param_name] = found
        return kwargs
