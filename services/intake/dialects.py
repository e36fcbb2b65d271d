"""PBX dialects: which adapter reads a PBX event, by the dialect's name."""

from __future__ import annotations

from datetime import datetime

from services.intake import asterisk, freeswitch, generic, twilio
from services.intake.pbx import Adapted, Adapter
from shared.errors import PermanentError

def _generic(raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted:
    return generic.from_generic(raw, region=region, now=now)  # the payload names its own PBX


DIALECTS: dict[str, Adapter] = {
    generic.DIALECT: _generic,
    asterisk.DIALECT: asterisk.from_asterisk,
    freeswitch.DIALECT: freeswitch.from_freeswitch,
    twilio.DIALECT: twilio.from_twilio,
}


def adapt(dialect: str, raw: bytes, *, region: str, now: datetime, pbx: str) -> Adapted:
    """What the PBX event means. `pbx` names the PBX for dialects whose payload does not
    (the connector's name over HTTP, the `pbx` header on Kafka)."""
    adapter = DIALECTS.get(dialect)
    if adapter is None:
        raise PermanentError(
            f"unknown dialect {dialect!r}; known: {', '.join(sorted(DIALECTS))}",
            where="dialect", dialect=dialect,
        )
    return adapter(raw, region=region, now=now, pbx=pbx)
