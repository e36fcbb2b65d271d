"""The errors a pure adapter or policy raises about its input, importable without Kafka or
the database: the broker's dead-letter middleware and the HTTP entry points turn them into
`calls.rejected` and a 4xx answer."""

from __future__ import annotations

from pydantic import ValidationError


class PermanentError(Exception):
    """Input that will never be processable: it goes to `calls.rejected`, not back to Kafka."""

    def __init__(
        self,
        reason: str,
        *,
        where: str | None = None,
        call_id: str | None = None,
        dialect: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where
        self.call_id = call_id
        self.dialect = dialect


def describe_validation_error(error: ValidationError) -> tuple[str, str | None]:
    """(reason, where) of the first problem pydantic found."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
    return first.get("msg", str(error)), where
