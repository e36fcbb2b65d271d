"""The fakes of tests/fakes stand in for the real ports: each subclasses the Protocol it
fakes, implements every method of it (a Protocol's own `...` body would answer None), with
the port's signature; and `shared.kafka.PublisherPort` is what `Publisher` offers."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import pytest

import tests.fakes
from shared.kafka import Publisher, PublisherPort
from tests.fakes.assignment import InMemoryLeads, InMemoryTransaction
from tests.fakes.desk import FakeDeskCalls, FakeQualificationClaim
from tests.fakes.lookup import FakeChangeTransaction, FakeClientBase

MODULES = [importlib.import_module(f"tests.fakes.{m.name}")
           for m in pkgutil.iter_modules(tests.fakes.__path__)]
CLASSES = [cls for module in MODULES for _, cls in inspect.getmembers(module, inspect.isclass)
           if cls.__module__ == module.__name__]
FAKES = [cls for cls in CLASSES if re.match(r"(Fake|InMemory|Recording|Stub)[A-Z]", cls.__name__)]

# The fakes that need an argument to be made.
MADE_WITH: dict[type, Callable[[], Any]] = {
    InMemoryTransaction: lambda: InMemoryTransaction(InMemoryLeads()),
    FakeChangeTransaction: lambda: FakeChangeTransaction(FakeClientBase()),
    FakeQualificationClaim: lambda: FakeQualificationClaim(FakeDeskCalls(), "office-1:a1"),
}


def is_protocol(cls: type) -> bool:
    return bool(cls.__dict__.get("_is_protocol", False))


def ports_of(cls: type) -> list[type]:
    return [base for base in cls.__mro__[1:]
            if is_protocol(base) and base.__module__.startswith(("services.", "shared."))]


def port_methods(port: type) -> dict[str, Callable[..., Any]]:
    return {name: value for name, value in vars(port).items()
            if inspect.isfunction(value) and not name.startswith("_")}


def shape(function: Callable[..., Any]) -> tuple[bool, list[tuple[Any, ...]], str]:
    """(async, the parameters with their annotations and defaults, what it returns); a
    method made with `asynccontextmanager` returns what the port's context manager gives."""
    signature = inspect.signature(function)
    returns = unqualified(signature.return_annotation)
    wrapped = getattr(function, "__wrapped__", None)
    if wrapped is not None and inspect.isasyncgenfunction(wrapped):
        returns = re.sub(r"^AsyncIterator\[", "AbstractAsyncContextManager[", returns)
    parameters = [(p.name, p.kind, unqualified(p.annotation), p.default)
                  for p in signature.parameters.values()]
    return inspect.iscoroutinefunction(function), parameters, returns


def unqualified(annotation: Any) -> str:
    """An annotation as written, without module names (`topics.Topic` is `Topic`)."""
    return re.sub(r"\b[a-z_]\w*\.", "", str(annotation))


def port_of(cls: type, name: str) -> type:
    return next(c for c in cls.__mro__ if name in vars(c))


def test_every_fake_stands_in_for_a_port():
    assert FAKES, "no fakes found in tests/fakes"
    assert [f.__name__ for f in FAKES if not ports_of(f)] == []


@pytest.mark.parametrize("fake", FAKES, ids=lambda f: f.__name__)
def test_a_fake_has_every_method_of_its_ports_with_their_signature(fake: type):
    for port in ports_of(fake):
        for name, declared in port_methods(port).items():
            where = f"{fake.__name__}.{name} ({port.__module__}.{port.__name__})"
            assert not is_protocol(port_of(fake, name)), f"{where} is not implemented"
            assert shape(getattr(fake, name)) == shape(declared), f"{where} differs"


@pytest.mark.parametrize("fake", FAKES, ids=lambda f: f.__name__)
def test_a_fake_can_be_made(fake: type):
    made = MADE_WITH.get(fake, fake)()
    for port in ports_of(fake):
        for attribute in getattr(port, "__annotations__", {}):
            assert hasattr(made, attribute), f"{fake.__name__} has no {attribute}"


def test_the_publisher_port_is_what_the_publisher_offers():
    for name, declared in port_methods(PublisherPort).items():
        assert shape(getattr(Publisher, name)) == shape(declared), name


def test_a_missing_or_different_method_is_found():
    class Lacking(PublisherPort):
        async def publish(self, topic, event, *, key=None) -> None: ...

    assert is_protocol(port_of(Lacking, "confirm"))
    assert shape(Lacking.publish) != shape(PublisherPort.publish)
