"""Who may use the head's inbox, said of an employee (what `switchboard token` prints). The
tokens themselves, and the check of every request, are shared: `shared.access`."""

from __future__ import annotations

from shared.access.credentials import PERSON_TOKEN, new_token, token_hash
from shared.events import Department, EmployeeRef, Role

TOKEN_PREFIX = PERSON_TOKEN


def may_work_the_inbox(employee: EmployeeRef) -> bool:
    """Only a head of the commercial department, still working here, acts on the head of
    sales' inbox; a negotiator (or the client department's head) does not."""
    return (employee.active and employee.role == Role.HEAD
            and employee.department == Department.COMMERCIAL)


__all__ = ["TOKEN_PREFIX", "may_work_the_inbox", "new_token", "token_hash"]
