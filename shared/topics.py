"""The one topic registry: every Kafka topic, the event it carries and how it is keyed.

Services name topics only through this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from shared import events


@dataclass(frozen=True)
class Topic:
    name: str
    event: type[BaseModel] | None  # None: raw vendor payloads (pbx.events)
    key: str
    description: str


PBX_EVENTS = Topic(
    "pbx.events",
    None,
    "the PBX's own call id",
    "Raw PBX events as the connectors send them; the Kafka header `dialect` names the format "
    "(`generic` when absent).",
)
CALLS_RECEIVED = Topic(
    "calls.received",
    events.CallReceived,
    "caller number (E.164), else call_id",
    "One event per accepted inbound call, caller number normalised.",
)
CALLS_LIFECYCLE = Topic(
    "calls.lifecycle",
    events.CallLifecycle,
    "call_id",
    "Later moments of accepted calls (answered, hung up), for analysts.",
)
CALLS_ENRICHED = Topic(
    "calls.enriched",
    events.CallEnriched,
    "client id, else caller number, else call_id",
    "The call with who is calling, who owns them and the shopping-around flag.",
)
CALLS_ROUTED = Topic(
    "calls.routed",
    events.CallRouted,
    "client id, else caller number, else call_id",
    "The routing decision: destination, employee and reasons.",
)
CALLS_QUALIFIED = Topic(
    "calls.qualified",
    events.CallQualified,
    "client id, else call_id",
    "The client department's verdict on a call after answering it.",
)
LEADS_ASSIGNED = Topic(
    "leads.assigned",
    events.LeadAssigned,
    "client id, else call_id",
    "A lead created and given to an employee.",
)
DEALS_CLOSED = Topic(
    "deals.closed",
    events.DealClosed,
    "client id, else lead id",
    "A lead's outcome from the CRM: won or lost, final value.",
)
ALERTS_SHOPPING_AROUND = Topic(
    "alerts.shopping-around",
    events.ShoppingAroundDetected,
    "client id",
    "A client who seems to be asking several employees for terms.",
)
CALLS_REJECTED = Topic(
    "calls.rejected",
    events.CallRejected,
    "none",
    "Messages that could not be processed, with the reason (the dead-letter topic).",
)

ALL: tuple[Topic, ...] = (
    PBX_EVENTS,
    CALLS_RECEIVED,
    CALLS_LIFECYCLE,
    CALLS_ENRICHED,
    CALLS_ROUTED,
    CALLS_QUALIFIED,
    LEADS_ASSIGNED,
    DEALS_CLOSED,
    ALERTS_SHOPPING_AROUND,
    CALLS_REJECTED,
)


def event_key(*candidates: object) -> bytes | None:
    """The Kafka key: the first candidate that is set (client id, caller number, call id)."""
    for candidate in candidates:
        if candidate:
            return str(candidate).encode()
    return None
