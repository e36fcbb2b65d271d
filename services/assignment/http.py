"""The head of sales' inbox over HTTP, behind the shared guard (`shared.access`: a bearer token
from `switchboard token EMAIL`, or a signed-in session):

- `GET /v1/inbox`: the commercial leads waiting for the head, with value, client, waiting time
  and the time left before they are distributed;
- `POST /v1/leads/{lead_id}/keep`: the head keeps the lead;
- `POST /v1/leads/{lead_id}/assign` `{"employee_id": ...}`: the head passes it to a negotiator.

No or an unknown, expired or revoked token: 401. Anyone but the head of sales (a commercial
head, or an administrator) or an integration given `inbox:work`: 403; keeping a lead takes a
person. Each decision is a line of the audit log (`lead.keep`, `lead.assign`).
"""


import logging
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field

from services.assignment import service
from services.assignment.policy import InboxLead, PendingLead, Refused
from services.assignment.service import Assignment
from shared.access.http import Guard, errors
from shared.access.http import Refused as AccessRefused
from shared.access.principals import AccessRole, Principal, PrincipalKind, Scope
from shared.events import EmployeeRef, Role, utcnow

log = logging.getLogger(__name__)

_STATUS = {"unauthenticated": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
           "invalid": 422}


class AssignRequest(BaseModel):
    employee_id: uuid.UUID = Field(description="The negotiator who gets the lead.")


# What the endpoints answer (they build the JSON themselves; these models document it).

class InboxClient(BaseModel):
    client_id: str | None
    name: str | None
    segment: str | None


class InboxItem(BaseModel):
    lead_id: str
    call_id: str
    client: InboxClient | None = Field(description="Null for a caller the base does not know.")
    caller: str | None
    segment: str | None
    size_class: str | None
    value: str | None = Field(description="The expected value, a decimal in a string.")
    currency: str | None
    arrived_at: datetime
    waiting_seconds: float
    due_at: datetime = Field(description="When the lead is distributed if the head does not act.")
    seconds_left: float
    overdue: bool = Field(description="The deadline passed once and nobody could take it.")


class Inbox(BaseModel):
    count: int
    leads: list[InboxItem]


class Decided(BaseModel):
    lead_id: str
    employee_id: str
    employee_name: str
    strategy: str
    score: float | None
    announced: bool = Field(description="False: `leads.assigned` is published a little later.")


async def refused_response(_: Request, refused: Exception) -> JSONResponse:
    assert isinstance(refused, Refused)
    headers = {"WWW-Authenticate": "Bearer"} if refused.kind == "unauthenticated" else None
    return JSONResponse({"error": refused.reason, "where": refused.where},
                        status_code=_STATUS[refused.kind], headers=headers)


def _inbox_item(lead: InboxLead, now: datetime) -> dict:
    return {
        "lead_id": str(lead.lead_id),
        "call_id": lead.call_id,
        "client": ({"client_id": str(lead.client_id) if lead.client_id else None,
                    "name": lead.client_name, "segment": lead.segment}
                   if lead.client_id or lead.client_name else None),
        "caller": lead.caller,
        "segment": lead.segment,
        "size_class": lead.size_class,
        "value": f"{lead.value:f}" if lead.value is not None else None,
        "currency": lead.currency,
        "arrived_at": lead.arrived_at.isoformat(),
        "waiting_seconds": round(lead.waiting(now).total_seconds(), 1),
        "due_at": lead.due_at.isoformat(),
        "seconds_left": round(lead.left(now).total_seconds(), 1),
        "overdue": lead.attempts > 0,
    }


def _decided(pending: PendingLead, announced: bool) -> dict:
    return {
        "lead_id": str(pending.lead_id),
        "employee_id": str(pending.employee_id),
        "employee_name": pending.employee_name,
        "strategy": pending.strategy.value,
        "score": pending.score,
        "announced": announced,
    }


def _acting_head(principal: Principal) -> EmployeeRef:
    """The person who keeps a lead: the signed-in head of sales."""
    if principal.employee_id is None or principal.department is None:
        raise AccessRefused(403, f"{principal.display_name} is an integration: a lead is kept "
                            "by a person, the head of sales", "scope")
    return EmployeeRef(employee_id=principal.employee_id, name=principal.display_name,
                       department=principal.department,
                       role=Role.HEAD if AccessRole.HEAD in principal.roles else Role.AGENT)


def inbox_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter(tags=["inbox"])
    guard = Guard(broker)
    Deps = Annotated[Assignment, Depends(Assignment.provider(broker))]

    async def head_of_sales(
            principal: Annotated[Principal, Depends(guard.principal())]) -> Principal:
        if principal.kind is PrincipalKind.INTEGRATION and not principal.may(Scope.INBOX_WORK):
            raise AccessRefused(403, f"{principal.display_name} was not given "
                                f"{Scope.INBOX_WORK.value}", "scope")
        if principal.kind is PrincipalKind.PERSON and not (principal.may(Scope.INBOX_WORK)
                                                 and principal.works_the_inbox):
            raise AccessRefused(403, f"{principal.display_name} is not a head of the "
                                "commercial department: only the head of sales works this "
                                "inbox", "scope")
        return principal

    Head = Annotated[Principal, Depends(head_of_sales)]

    async def announced(deps: Assignment, pending: PendingLead) -> bool:
        """The decision is committed; if Kafka is away now, the deadline task publishes it
        later (the same event)."""
        try:
            await service.publish_decided_lead(deps, pending)
            return True
        except Exception:
            log.exception("lead %s decided, announcement postponed", pending.lead_id)
            return False

    @api.get("/v1/inbox", responses={200: {"model": Inbox, "description": "The waiting leads"},
                                     **errors(401, 403)})
    async def list_inbox(head: Head, deps: Deps) -> JSONResponse:
        now = utcnow()
        items = [_inbox_item(lead, now) for lead in await service.waiting_in_inbox(deps)]
        return JSONResponse({"count": len(items), "leads": items})

    @api.post("/v1/leads/{lead_id}/keep", responses={
        200: {"model": Decided, "description": "The head keeps it"},
        **errors(401, 403, 404, 409, 422)})
    async def keep_lead(lead_id: uuid.UUID, head: Head, deps: Deps) -> JSONResponse:
        pending = await service.keep_inbox_lead(deps, lead_id, _acting_head(head), utcnow(),
                                                by=head)
        return JSONResponse(_decided(pending, await announced(deps, pending)))

    @api.post("/v1/leads/{lead_id}/assign", responses={
        200: {"model": Decided, "description": "The negotiator gets it"},
        **errors(401, 403, 404, 409, 422)})
    async def assign_lead(lead_id: uuid.UUID, request: AssignRequest, head: Head,
                          deps: Deps) -> JSONResponse:
        pending = await service.assign_inbox_lead(deps, lead_id, request.employee_id, utcnow(),
                                                  by=head)
        return JSONResponse(_decided(pending, await announced(deps, pending)))

    return api


def install_inbox(app: FastAPI, broker: KafkaBroker) -> None:
    app.include_router(inbox_routes(broker))
    app.add_exception_handler(Refused, refused_response)
