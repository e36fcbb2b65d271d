"""The log lines of a service: one JSON object per line (or text for a terminal), with the
`call_id` of the message being processed and caller numbers masked."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from urllib.parse import unquote_plus
import sys
from typing import Any

from faststream import BaseMiddleware
from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from shared.access.credentials import TOKEN_PREFIXES
from shared.observability.tracing import UNTRACED_PATHS

# The call the current message is about; set for each message the service receives.
CALL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)


def call_id_of(raw: bytes | None) -> str | None:
    """The `call_id` of a JSON event; for a `generic` PBX event, `<pbx>:<call id>` as the
    pipeline spells it."""
    if not raw or not raw.lstrip().startswith(b"{"):
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    call_id = data.get("call_id") if isinstance(data, dict) else None
    if not isinstance(call_id, str):
        return None
    pbx = data.get("pbx")
    if isinstance(pbx, str) and pbx and not call_id.startswith(f"{pbx}:") \
            and "event_type" not in data:
        return f"{pbx}:{call_id}"
    return call_id


class CallContext(BaseMiddleware):
    """Puts the `call_id` of each received message where the log lines find it.

    Set when the message arrives, before FastStream logs "Received", and left in place until
    the next message arrives (which sets it again, to its own call or None), because
    FastStream logs "Processed" after the middlewares exited. A batch of several calls has
    no call id of its own; each record's is set while it is handled (`shared.batches`).
    """

    async def on_receive(self) -> None:
        record = self.msg
        if isinstance(record, tuple):  # a batch: about one call only when it holds one
            record = record[0] if len(record) == 1 else None
        CALL_ID.set(call_id_of(getattr(record, "value", None)))


class CallIdFilter(logging.Filter):
    """Adds `call_id` (and the trace id) to the records written while a message about a call
    is processed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_id", None) is None and (call_id := CALL_ID.get()):
            record.call_id = call_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = format(span.trace_id, "032x")
        return True


# A phone number as people and PBXs write it: 7 to 15 digits, perhaps a leading +, spaces,
# dashes, dots or parentheses between them; not part of a longer word, id, time or path.
_PHONE = re.compile(r"(?<![\w+:./-])\+?\(?\d(?:[\s().-]{0,2}\d){6,14}(?![\w:/-])")


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    plus = text.startswith("+")
    if not plus and len(digits) < 10:  # dates, amounts, offsets
        return text
    head = digits[: max(0, min(4, len(digits) - 7))]
    return f"{'+' if plus else ''}{head}***{digits[-4:]}"


def mask_phones(text: str) -> str:
    """`+79161234567` -> `+7916***4567`: enough to tell calls apart, not to dial."""
    return _PHONE.sub(_mask, text)


class MaskPhonesFilter(logging.Filter):
    """Masks caller numbers in the message (with its arguments filled in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: logging reports it when formatting
            return True
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class _Masking:
    """Masks numbers in tracebacks too (a validation error quotes the input)."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return mask_phones(super().formatException(ei))  # type: ignore[misc]

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return mask_phones(super().formatStack(stack_info))  # type: ignore[misc]


class JsonLines(_Masking, JsonFormatter):
    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {"time": log_data.pop("time", None), **log_data}  # the time first, to read


class TextLines(_Masking, logging.Formatter):
    pass


# Attributes of records that are not worth a JSON field.
_NOT_FIELDS = ("color_message", "taskName")


_NUMBER_LIKE = re.compile(r"[\d\s()+.\-]+")


def _masked_part(part: str) -> str:
    """A path segment or query value as logged: a caller number in it masked, whatever its
    URL encoding (`%2B7916...`, `8%20916...`); anything else with 7 or more digits hidden."""
    typed = unquote_plus(part)
    if typed.startswith(TOKEN_PREFIXES):  # an invitation link's token: a password's key
        return typed[:typed.index("_") + 1] + "***"
    if sum(c.isdigit() for c in typed) < 7:
        return part
    masked = mask_phones(typed)
    if masked != typed:
        return masked
    # a number written some other way (not an id: those have letters) is hidden whole
    return "***" if _NUMBER_LIKE.fullmatch(typed) else part


def mask_request_target(target: str) -> str:
    """`/v1/callers/%2B79161234567?x=1` -> `/v1/callers/+7916***4567?x=1`, and the same for
    query values (`/v1/route/asterisk?caller=%2B7916...`); a token in a path
    (`/invite/sbv_...`) -> `/invite/sbv_***`."""
    path, question, query = target.partition("?")
    path = "/".join(_masked_part(segment) for segment in path.split("/"))
    if question:
        query = "&".join(
            f"{name}{eq}{_masked_part(value)}"
            for name, eq, value in (pair.partition("=") for pair in query.split("&")))
    return path + question + query


class MaskAccessLog(logging.Filter):
    """uvicorn's access line carries the request's path and query, where caller numbers
    travel (`GET /v1/callers/{phone}`, a dialplan's `?caller=`): masked like every caller
    number in the logs (the audit log has them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], mask_request_target(args[2]), *args[3:])
        return True


class QuietAccessLog(logging.Filter):
    """Drops uvicorn's access lines for health checks and scrapes."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (len(args) >= 3 and str(args[2]).startswith(UNTRACED_PATHS))


def log_handler(service: str, fmt: str = "json", stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS

        handler.setFormatter(JsonLines(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service},
            reserved_attrs=[*RESERVED_ATTRS, *_NOT_FIELDS],
            timestamp="time",  # ISO 8601 in UTC, to the microsecond
        ))
    else:
        handler.setFormatter(TextLines(
            f"%(asctime)s %(levelname)s {service} %(name)s [%(call_id)s]: %(message)s",
            defaults={"call_id": "-"}))
    handler.addFilter(CallIdFilter())
    handler.addFilter(MaskPhonesFilter())
    return handler


def configure_logging(service: str, level: str = "INFO", fmt: str = "json",
                      stream: Any = None) -> logging.Handler:
    """Every log line of the process through one handler on the root logger: ours,
    FastStream's, uvicorn's."""
    handler = log_handler(service, fmt, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # FastStream's own loggers print to stdout and stop there: send them to the root instead.
    for name in ("faststream", "faststream.access", "faststream.access.kafka"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").addFilter(QuietAccessLog())
    logging.getLogger("uvicorn.access").addFilter(MaskAccessLog())
    return handler
