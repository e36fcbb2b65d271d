"""The `generic` dialect, the one we define: one JSON object per inbound call, naming its PBX."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.intake.pbx import MAX_CALL_ID, MAX_NUMBER, call_received, parse_json_object
from shared.events import CallReceived
from shared.errors import PermanentError, describe_validation_error
from shared.phones import normalise

DIALECT = "generic"


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


def from_generic(raw: bytes, *, region: str, now: datetime) -> CallReceived:
    data = parse_json_object(raw, DIALECT)
    try:
        event = GenericCallEvent.model_validate(data)
    except ValidationError as e:
        reason, where = describe_validation_error(e)
        call_id = data.get("call_id") if isinstance(data.get("call_id"), str) else None
        pbx = data.get("pbx") if isinstance(data.get("pbx"), str) else None
        raise PermanentError(
            reason, where=where, dialect=DIALECT,
            call_id=f"{pbx}:{call_id}" if pbx and call_id else None,
        ) from e
    call_id = f"{event.pbx}:{event.call_id}"
    return call_received(call_id=call_id, pbx=event.pbx, caller_raw=event.caller or "",
                         caller=normalise(event.caller, region), dialed_raw=event.dialed,
                         region=region, started_at=event.started_at or now, now=now,
                         dialect=DIALECT)
