"""Signatures of PBX webhooks: pure functions, no clock (the caller passes `now`).

- Our own scheme, for connectors that POST to `/v1/pbx/{dialect}`: the sender puts the Unix
  time in seconds in a timestamp header and `sha256=<hex>` of HMAC-SHA256, keyed with the
  shared secret, over `<timestamp>.<raw body>` in a signature header. Signing the timestamp
  with the body lets a receiver refuse replays older than `max_age`. It is written here
  because it is ours: no library implements it.
- Twilio's scheme (`X-Twilio-Signature`), checked by the `twilio` package's validator.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from twilio.request_validator import RequestValidator

SIGNATURE_PREFIX = "sha256="
MAX_AGE_SECONDS = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`."""
    message = timestamp.encode("utf-8") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_switchboard(secret: str, timestamp_header: str | None, signature_header: str | None,
                       body: bytes, now: float, max_age: int = MAX_AGE_SECONDS) -> str | None:
    """None when the body is signed with `secret` and fresh; else why not, for the sender.

    The reason starts with "missing", "bad" or "stale"."""
    if not secret:
        return "missing secret: no signing secret is configured, so nothing can be verified"
    if not timestamp_header or not timestamp_header.strip():
        return "missing timestamp"
    if not signature_header or not signature_header.strip():
        return "missing signature"
    timestamp = timestamp_header.strip()
    if not _UNIX_SECONDS.fullmatch(timestamp):
        return "bad timestamp: expected Unix time in seconds"
    # A clock ahead of ours is as suspect as one behind: either way it may be a replay.
    skew = now - int(timestamp)
    if abs(skew) > max_age:
        return f"stale timestamp: {abs(skew):.0f} s from now, more than {max_age} s"
    expected = sign(secret, timestamp, body).encode("ascii")
    if not hmac.compare_digest(expected, signature_header.strip().lower().encode("utf-8")):
        return "bad signature"
    return None


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """What Twilio puts in `X-Twilio-Signature` for a POST of `params` to `url`."""
    return RequestValidator(auth_token).compute_signature(url, params)


def verify_twilio(auth_token: str, url: str, params: dict[str, str],
                  signature_header: str | None) -> bool:
    """True when `signature_header` is Twilio's signature of this request: for the URL as
    requested, else (the `twilio` validator) for it without or with its port, which a proxy in
    between may add or drop. The validator alone misses a URL it rewrites before signing
    (`HTTP://`, lowercased) or cannot split (`http://[::1`)."""
    if not auth_token or not signature_header:
        return False
    validator = RequestValidator(auth_token)
    given = signature_header.strip()
    expected = validator.compute_signature(url, params)
    if hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8")):
        return True
    try:
        return validator.validate(url, params, given)
    except ValueError:
        return False
