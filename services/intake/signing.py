"""Signatures of PBX webhooks: pure functions, no clock (the caller passes `now`).

- Our own scheme, for connectors that POST to `/v1/pbx/{dialect}`: the sender puts the Unix
  time in seconds in a timestamp header and `sha256=<hex>` of HMAC-SHA256, keyed with the
  shared secret, over `<timestamp>.<raw body>` in a signature header. Signing the timestamp
  with the body lets a receiver refuse replays older than `max_age`.
- Twilio's scheme (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with the account's auth
  token, over the full URL Twilio requested (query string included) followed by every POST
  parameter, sorted by name, as name then value with no separators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_PREFIX = "sha256="
MAX_AGE_SECONDS = 300
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_DEFAULT_PORTS = {"https": "443", "http": "80"}


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
    signed = url + "".join(name + params[name] for name in sorted(params))
    mac = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_twilio(auth_token: str, url: str, params: dict[str, str],
                  signature_header: str | None) -> bool:
    """True when `signature_header` is Twilio's signature of this request."""
    if not auth_token or not signature_header:
        return False
    given = signature_header.strip().encode("utf-8")
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, params).encode("ascii"), given)
        for candidate in _url_forms(url)
    )


def _url_forms(url: str) -> list[str]:
    """The URL as requested, without its port and with its port (the scheme's default when none).

    Twilio signs the URL as it was configured, and a proxy in between may add or drop the port;
    Twilio's own validators accept either form (twilio-python, twilio-csharp)."""
    forms = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return forms
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, port = _split_port(hostport)
    port = port or _DEFAULT_PORTS.get(parts.scheme.lower(), "")
    forms.append(urlunsplit(parts._replace(netloc=userinfo + at + host)))
    if port:
        forms.append(urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{port}")))
    return forms


def _split_port(hostport: str) -> tuple[str, str]:
    """("host", "port") of "host:port"; ("[::1]", "8080") of "[::1]:8080"; port "" when none."""
    host, colon, port = hostport.rpartition(":")
    if colon and port.isascii() and port.isdigit():
        return host, port
    return hostport, ""
