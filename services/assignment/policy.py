"""Who gets a lead: pure rules, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.events import CallRouted, Destination, Strategy, derive_event_id


@dataclass(frozen=True)
class LeadPlan:
    lead_id: uuid.UUID
    employee_id: uuid.UUID
    strategy: Strategy


def lead_id_for(call_id: str) -> uuid.UUID:
    """One lead per call: its id is derived from the call, so a redelivery finds the same lead."""
    return derive_event_id("lead", call_id)


def plan_lead(routed: CallRouted) -> LeadPlan | None:
    """A call routed to the client's owner is a lead of that owner. A call for the client
    department desk is not a lead yet: the desk first finds out what the caller wants."""
    if routed.destination == Destination.OWNER and routed.employee_id is not None:
        return LeadPlan(lead_id_for(routed.call_id), routed.employee_id, Strategy.OWNER)
    return None
