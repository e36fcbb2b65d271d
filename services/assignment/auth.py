"""Bearer tokens of the assignment API and who may use the head's inbox: pure functions.

A token is 32 random bytes (URL-safe base64) with a `sb_` prefix. Only its SHA-256 is stored:
a token this random needs no slow hash, and a copy of the database gives nobody a token.
"""

from __future__ import annotations

import hashlib
import secrets

from shared.events import Department, EmployeeRef, Role

TOKEN_PREFIX = "sb_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def may_work_the_inbox(employee: EmployeeRef) -> bool:
    """Only a head of the commercial department, still working here, acts on the head of
    sales' inbox; a negotiator (or the client department's head) does not."""
    return (employee.active and employee.role == Role.HEAD
            and employee.department == Department.COMMERCIAL)
