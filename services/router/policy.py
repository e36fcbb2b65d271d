"""Where a call goes: the department policy as pure functions."""

from __future__ import annotations

from datetime import datetime

from shared.events import CallEnriched, CallRouted, Destination, derive_event_id


def route(call: CallEnriched, *, now: datetime) -> CallRouted:
    """Ring-time routing.

    - A client with an active owner goes back to the owner: both departments work from one
      client base, and a client must not get terms from a second salesperson.
    - Anyone else goes to the client department desk, which takes every other inbound call.
    """
    client = call.client
    base = dict(
        event_id=derive_event_id(call.event_id, "routed"),
        occurred_at=now,
        call_id=call.call_id,
        caller=call.caller,
        client_id=client.client_id if client else None,
        client_name=client.name if client else None,
        shopping_around=call.shopping_around,
    )
    if client and call.ownership:
        owner = call.ownership.owner
        return CallRouted(
            **base,
            destination=Destination.OWNER,
            employee_id=owner.employee_id,
            employee_name=owner.name,
            reasons=[f"{client.name} is owned by {owner.name} "
                     f"since {call.ownership.since.date().isoformat()}"],
        )
    if client:
        reason = f"{client.name} is a known client without a current owner"
    elif call.caller_status == "external":
        reason = "unknown caller: not in the client base"
    else:
        reason = f"caller id is {call.caller_status.value}: treated as an unknown caller"
    return CallRouted(
        **base,
        destination=Destination.CLIENT_DEPARTMENT,
        employee_id=None,
        reasons=[f"{reason}; the client department desk takes the call"],
    )
