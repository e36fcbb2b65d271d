"""PBX dialects: pure adapters from what a PBX sends to our `CallReceived`.

An adapter returns a `CallReceived`, or raises `PermanentError` saying what is wrong and where.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.events import CallLifecycle, CallReceived, LifecyclePhase, derive_event_id
from shared.errors import PermanentError, describe_validation_error
from shared.phones import Number, normalise, normalise_dialed

# Longest PBX call id and phone number we accept, in every dialect.
MAX_CALL_ID = 200
MAX_NUMBER = 100


@dataclass(frozen=True)
class Ignored:
    """A PBX event that is not the start of an inbound call and not a lifecycle moment
    (outbound legs, housekeeping): counted and dropped, not an error."""

    dialect: str
    kind: str  # the vendor's event name, e.g. "FullyBooted"
    reason: str


# What an adapter makes of one PBX event.
Adapted = CallReceived | CallLifecycle | Ignored


class GenericCallEvent(BaseModel):
    """The canonical `generic` dialect: one JSON object per inbound call."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    pbx: str = Field(min_length=1, max_length=100, description="Name of the PBX.",
                     examples=["office-1"])
    call_id: str = Field(min_length=1, max_length=MAX_CALL_ID, description="The PBX's id of the call.",
                         examples=["a1b2"])
    caller: str | None = Field(default=None, max_length=MAX_NUMBER,
                               description="Caller id as the PBX has it.",
                               examples=["+7 916 123-45-67"])
    dialed: str = Field(min_length=1, max_length=MAX_NUMBER,
                        description="The number or internal extension dialed.",
                        examples=["+7 495 100-00-00", "104"])
    started_at: AwareDatetime | None = Field(
        default=None, description="When the call started; the time of receipt when absent.",
        examples=["2026-11-27T10:00:00Z"])


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


def lifecycle_id(call_id: str, phase: LifecyclePhase) -> uuid.UUID:
    """A call is answered once and hung up once: repeated signals of one moment share an id."""
    return derive_event_id("CallLifecycle", call_id, phase.value)


def call_lifecycle(*, call_id: str, phase: LifecyclePhase, occurred_at: datetime, pbx: str,
                   dialect: str, detail: str | None) -> CallLifecycle:
    """The one event of a call's answer or hang-up, whichever vendor event signalled it."""
    return CallLifecycle(event_id=lifecycle_id(call_id, phase), occurred_at=occurred_at,
                         call_id=call_id, pbx=pbx, phase=phase, dialect=dialect, detail=detail)


def within(value: str, key: str, limit: int, *, dialect: str, call_id: str | None = None
           ) -> str:
    """The value of a vendor field, refused when it is longer than `limit`."""
    if len(value) > limit:
        raise PermanentError(f"{key} longer than {limit} characters", where=key,
                             call_id=call_id, dialect=dialect)
    return value


def parse_json_object(raw: bytes, dialect: str) -> dict:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:  # bad JSON, bad UTF-8, huge ints, deep nesting
        raise PermanentError(f"not JSON: {e}", dialect=dialect) from e
    if not isinstance(data, dict):
        raise PermanentError(f"expected a JSON object, got {type(data).__name__}",
                             dialect=dialect)
    return data


def from_generic(raw: bytes, *, region: str, now: datetime) -> CallReceived:
    data = parse_json_object(raw, "generic")
    try:
        event = GenericCallEvent.model_validate(data)
    except ValidationError as e:
        reason, where = describe_validation_error(e)
        call_id = data.get("call_id") if isinstance(data.get("call_id"), str) else None
        pbx = data.get("pbx") if isinstance(data.get("pbx"), str) else None
        raise PermanentError(
            reason, where=where, dialect="generic",
            call_id=f"{pbx}:{call_id}" if pbx and call_id else None,
        ) from e
    call_id = f"{event.pbx}:{event.call_id}"
    caller = normalise(event.caller, region)
    return CallReceived(
        event_id=call_received_id(call_id),
        occurred_at=now,
        call_id=call_id,
        pbx=event.pbx,
        caller=caller.value,
        caller_raw=event.caller or "",
        caller_status=caller.status,
        dialed=normalise_dialed(event.dialed, region),
        started_at=event.started_at or now,
        dialect="generic",
    )


def _generic(raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted:
    return from_generic(raw, region=region, now=now)  # the payload names its own PBX


def _dialects() -> dict[str, Callable[..., Adapted]]:
    from services.intake.asterisk import from_asterisk
    from services.intake.freeswitch import from_freeswitch
    from services.intake.twilio import from_twilio

    return {"generic": _generic, "asterisk": from_asterisk, "freeswitch": from_freeswitch,
            "twilio": from_twilio}


def adapt(dialect: str, raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted:
    """What the PBX event means. `pbx` names the PBX for dialects whose payload does not
    (the connector's name over HTTP, the `pbx` header on Kafka)."""
    adapter = _dialects().get(dialect)
    if adapter is None:
        raise PermanentError(
            f"unknown dialect {dialect!r}; known: {', '.join(sorted(_dialects()))}",
            where="dialect", dialect=dialect,
        )
    return adapter(raw, region=region, now=now, pbx=pbx)
