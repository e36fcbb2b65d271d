"""What a PBX dialect adapter makes of one vendor event, and the pieces every adapter shares.

An adapter returns a `CallReceived`, a `CallLifecycle` or an `Ignored`, or raises
`PermanentError` saying what is wrong and where. This module imports no adapter: each adapter
imports it, and `dialects` puts the adapters together.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.events import CallLifecycle, CallReceived, LifecyclePhase, derive_event_id
from shared.errors import PermanentError
from shared.phones import Number, normalise_dialed

# Longest PBX call id and phone number we accept, in every dialect.
MAX_CALL_ID = 200
MAX_NUMBER = 100


@dataclass(frozen=True)
class Ignored:
    """A PBX event that is not the start of an inbound call and not a lifecycle moment
    (outbound legs, housekeeping): counted and dropped, not an error."""

    dialect: str
    kind: str  # the vendor's name of the event, e.g. "FullyBooted"; a Twilio CallStatus
    reason: str


# What an adapter makes of one PBX event.
Adapted = CallReceived | CallLifecycle | Ignored


class Adapter(Protocol):
    """A dialect: what one PBX event in that vendor's format means. `pbx` names the PBX for
    dialects whose payload does not."""

    def __call__(self, raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted: ...


# --- parsing -------------------------------------------------------------------------------

def parse_json_object(document: str | bytes, dialect: str, *, numbers_as_text: bool = False
                      ) -> dict[str, object]:
    """The JSON object `document` holds, or a `PermanentError`. With `numbers_as_text`, numbers
    keep their text (an Asterisk Uniqueid 1527247326.556790 must not become a float)."""
    as_text = {"parse_int": str, "parse_float": str} if numbers_as_text else {}
    try:
        data = json.loads(document, **as_text)
    except (ValueError, RecursionError) as e:  # bad JSON, bad UTF-8, huge ints, deep nesting
        raise PermanentError(f"not JSON: {e}", dialect=dialect) from e
    if not isinstance(data, dict):
        raise PermanentError(f"expected a JSON object, got {type(data).__name__}",
                             dialect=dialect)
    return data


def by_lower_case_name(fields: Iterable[tuple[str, object]]) -> dict[str, object]:
    """Fields keyed by their lower-case name; a name given twice counts with its first value."""
    found: dict[str, object] = {}
    for key, value in fields:
        found.setdefault(key.lower(), value)
    return found


def within(value: str, key: str, limit: int, *, dialect: str, call_id: str | None = None
           ) -> str:
    """The value of a vendor field, refused when it is longer than `limit`."""
    if len(value) > limit:
        raise PermanentError(f"{key} longer than {limit} characters", where=key,
                             call_id=call_id, dialect=dialect)
    return value


@dataclass(frozen=True)
class VendorEvent:
    """A vendor event's fields by lower-case name (AMI keys, FreeSWITCH headers)."""

    fields: Mapping[str, object]
    dialect: str

    def text(self, key: str) -> str:
        """The field's value, stripped; "" when absent."""
        value = self.fields.get(key.lower())
        if value is None:
            return ""
        if not isinstance(value, str):
            raise PermanentError(f"{key} must be text, not {type(value).__name__}", where=key,
                                 dialect=self.dialect)
        return value.strip()

    def limited(self, key: str, limit: int, call_id: str | None = None) -> str:
        """The field's text, refused when longer than `limit`."""
        return within(self.text(key), key, limit, dialect=self.dialect, call_id=call_id)


# --- our events ----------------------------------------------------------------------------

def call_received_id(call_id: str) -> uuid.UUID:
    """The one id of a call's `CallReceived`, whatever the PBX retried."""
    return derive_event_id("CallReceived", call_id)


def call_received(*, call_id: str, pbx: str, caller_raw: str, caller: Number, dialed_raw: str,
                  region: str, started_at: datetime, now: datetime, dialect: str
                  ) -> CallReceived:
    """The one `CallReceived` of a call, whichever vendor event announced it."""
    return CallReceived(
        event_id=call_received_id(call_id),
        occurred_at=now,
        call_id=call_id,
        pbx=pbx,
        caller=caller.value,
        caller_raw=caller_raw,
        caller_status=caller.status,
        dialed=normalise_dialed(dialed_raw, region),
        started_at=started_at,
        dialect=dialect,
    )


def lifecycle_id(call_id: str, phase: LifecyclePhase) -> uuid.UUID:
    """A call is answered once and hung up once: repeated signals of one moment share an id."""
    return derive_event_id("CallLifecycle", call_id, phase.value)


def call_lifecycle(*, call_id: str, phase: LifecyclePhase, occurred_at: datetime, pbx: str,
                   dialect: str, detail: str | None) -> CallLifecycle:
    """The one event of a call's answer or hang-up, whichever vendor event signalled it."""
    return CallLifecycle(event_id=lifecycle_id(call_id, phase), occurred_at=occurred_at,
                         call_id=call_id, pbx=pbx, phase=phase, dialect=dialect, detail=detail)
