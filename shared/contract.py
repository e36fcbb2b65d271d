"""The event contract analysts build on: the AsyncAPI document of every topic of the registry,
generated from the code (the services' handlers and publishers, the topic registry and the
event models), never written by hand.

`switchboard.contract` feeds it the four services' routers; `make docs` writes the result to
`docs/asyncapi.yaml`, and a test fails when that file is out of date.

Compatibility promise (also in the document and in docs/events.md): within one
`schema_version` of an event, changes are additive only.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared import topics

# The version of the document. Its major number moves with a breaking change (a new
# `schema_version` of any event); minor with an additive one.
CONTRACT_VERSION = "1.0.0"

# The server the document names: the address services use inside docker compose.
DOCUMENTED_SERVER = "kafka:9092"

COMPATIBILITY = """\
## Compatibility promise

Every event carries `schema_version`. Within one `schema_version` of an event, changes are
**additive only**:

- a new field, optional or with a default;
- a new event type, on a new topic;
- a longer description or more examples.

Consumers must ignore fields they do not know. Anything else is a **breaking change** and
ships as a new `schema_version` of that event: removing or renaming a field, changing its type,
format or meaning, making an optional field required, or adding a value to an enumeration
(a consumer that switches on it would misread the new value). Consumers read
`schema_version` and must not guess at a version they do not know.

Event ids are deterministic (the same input yields the same `event_id`), delivery is
at-least-once: drop duplicates by `event_id`. Events of one client are ordered on one
partition (the key is the client id once known, the caller's number before).
"""


def _unwrap(text: str) -> str:
    """Paragraphs on one line each (list items and table rows stay lines), so the document
    reads well as YAML too."""
    return re.sub(r"(?<!\n)\n(?![\n|-])", " ", text)


def _topic_table() -> str:
    rows = [
        f"| `{t.name}` | {t.event.__name__ if t.event else 'raw PBX payload'} | {t.key} | "
        f"{t.description} |"
        for t in topics.ALL
    ]
    return "\n".join(["| topic | event | key | carries |", "|---|---|---|---|", *rows])


DESCRIPTION = f"""\
Switchboard routes a company's incoming sales calls: PBX events come in, every call is
looked up in the shared client base, routed (back to the client's owner, to the client
department, to the commercial department) and, when it is a lead, assigned to a salesperson.
The services talk only through these Kafka topics; this document is generated from their code.

{_topic_table()}

{COMPATIBILITY}"""


class Contract(AsyncAPI):
    """FastStream's AsyncAPI document, with the registry's description on every channel that
    the code leaves undescribed."""

    def to_specification(self) -> Any:
        with warnings.catch_warnings():
            # Two handlers publishing to one topic declare the same publisher twice.
            warnings.filterwarnings("ignore", "Overwrite channel", RuntimeWarning)
            schema = super().to_specification()
        by_name = {t.name: t for t in topics.ALL}
        for channel in schema.channels.values():
            topic = by_name.get(channel.address or "")
            if topic is not None and not channel.description:
                channel.description = f"{topic.description} Key: {topic.key}."
        # In name order: the order of declaration depends on what the process imported first,
        # and the committed document must not change with it.
        schema.channels = dict(sorted(schema.channels.items()))
        schema.operations = dict(sorted(schema.operations.items()))
        if schema.components is not None:
            for part in ("messages", "schemas"):
                if getattr(schema.components, part, None):
                    setattr(schema.components, part,
                            dict(sorted(getattr(schema.components, part).items())))
        return schema


def contract_broker(*routers: KafkaRouter, payloads: dict[str, type[BaseModel]] | None = None
                    ) -> KafkaBroker:
    """A broker that is only documented, never started: the routers' subscribers and
    publishers, plus a documentation-only publisher for each registry topic that no code
    declares a publisher for (topics the services publish with `broker.publish`, and those
    other systems publish: the PBX connectors, the operators' tool, the CRM). `payloads`
    documents the topics whose registry entry has no event model (raw PBX events)."""
    broker = KafkaBroker(
        DOCUMENTED_SERVER,
        description="The Kafka cluster of a Switchboard installation.",
    )
    for router in routers:
        broker.include_router(router)
    declared = {publisher.topic for publisher in broker.publishers}
    for topic in topics.ALL:
        if topic.name in declared:
            continue
        payload = topic.event or (payloads or {}).get(topic.name)
        broker.publisher(
            topic.name,
            title=f"{topic.name}:Publisher",
            description=f"{topic.description} Key: {topic.key}.",
            schema=payload,
        )
    return broker


def contract(broker: KafkaBroker) -> Contract:
    return Contract(
        broker,
        title="Switchboard events",
        version=CONTRACT_VERSION,
        description=_unwrap(DESCRIPTION),
        schema_version="3.0.0",
    )
