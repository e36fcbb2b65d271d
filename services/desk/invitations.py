"""The invitation link's page (`switchboard user invite EMAIL` prints it): whether a link still
works, and the new password as its form gives it, checked by the rules the access store
enforces (`shared.access.credentials.password_problem`). Pure."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from services.desk.policy import Reason
from shared.access.credentials import MIN_PASSWORD_LENGTH, password_problem
from shared.access.store import Invitation

# The longest password the access API takes (`shared.access.http.NewPassword`).
PASSWORD_MAX = 1024


class LinkState(StrEnum):
    OPEN = "open"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"  # its time ran out, or a newer link replaced it

    @property
    def status(self) -> int:
        """The page's HTTP status: a link that never existed is not found (404); one that did
        is gone (410)."""
        return {LinkState.OPEN: 200, LinkState.UNKNOWN: 404}.get(self, 410)


def link_state(invitation: Invitation | None, now: datetime) -> LinkState:
    """A link works once, until it expires (as `AccessStore.use_invitation` decides)."""
    if invitation is None:
        return LinkState.UNKNOWN
    if invitation.used_at is not None:
        return LinkState.USED
    if invitation.expires_at <= now:
        return LinkState.EXPIRED
    return LinkState.OPEN


def password_rules() -> Reason:
    """The rules, as the page states them beside the field."""
    return Reason("invite.rules", {"count": MIN_PASSWORD_LENGTH})


def password_errors(password: str, again: str) -> dict[str, Reason]:
    """What is wrong beside which field: the store's rules for the password, then the second
    entry must be the same."""
    if not password:
        return {"password": Reason("error.missing")}
    if len(password) > PASSWORD_MAX:
        return {"password": Reason("error.string_too_long", {"max_length": PASSWORD_MAX})}
    problem = password_problem(password)
    if problem is not None:
        if len(password) < MIN_PASSWORD_LENGTH:
            return {"password": Reason("invite.too_short", {"count": MIN_PASSWORD_LENGTH})}
        if password.strip() != password:
            return {"password": Reason("invite.spaces")}
        return {"password": Reason("invite.refused", {"problem": problem})}
    if again != password:
        return {"password_again": Reason("invite.mismatch")}
    return {}
