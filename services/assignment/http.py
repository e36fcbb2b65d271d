"""The head of sales' inbox over HTTP, behind a bearer token per employee
(`switchboard token EMAIL` issues one):

- `GET /v1/inbox`: the commercial leads waiting for the head, with value, client, waiting time
  and the time left before they are distributed;
- `POST /v1/leads/{lead_id}/keep`: the head keeps the lead;
- `POST /v1/leads/{lead_id}/assign` `{"employee_id": ...}`: the head passes it to a negotiator.

No or an unknown token: 401. A token of anyone but a commercial head: 403.
"""


import logging
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field

from services.assignment import service
from services.assignment.auth import may_work_the_inbox
from services.assignment.policy import InboxLead, PendingLead, Refused
from services.assignment.service import Assignment
from shared.events import EmployeeRef, utcnow

log = logging.getLogger(__name__)

_STATUS = {"unauthenticated": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
           "invalid": 422}


class AssignRequest(BaseModel):
    employee_id: uuid.UUID = Field(description="The negotiator who gets the lead.")


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


def inbox_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter(tags=["inbox"])
    bearer = HTTPBearer(auto_error=False, description="A token from `switchboard token EMAIL`.")
    Deps = Annotated[Assignment, Depends(Assignment.provider(broker))]

    async def head_of_sales(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        deps: Deps,
    ) -> EmployeeRef:
        if credentials is None:
            raise Refused("unauthenticated", "a bearer token is required", "Authorization")
        employee = await service.authenticate(deps, credentials.credentials)
        if employee is None:
            raise Refused("unauthenticated", "the token is not valid", "Authorization")
        if not may_work_the_inbox(employee):
            raise Refused("forbidden", f"{employee.name} is not a head of the commercial "
                          "department: only the head of sales works this inbox")
        return employee

    Head = Annotated[EmployeeRef, Depends(head_of_sales)]

    async def announced(deps: Assignment, pending: PendingLead) -> bool:
        """The decision is committed; if Kafka is away now, the deadline task publishes it
        later (the same event)."""
        try:
            await service.publish_decided_lead(deps, pending)
            return True
        except Exception:
            log.exception("lead %s decided, announcement postponed", pending.lead_id)
            return False

    @api.get("/v1/inbox")
    async def list_inbox(head: Head, deps: Deps) -> JSONResponse:
        now = utcnow()
        items = [_inbox_item(lead, now) for lead in await service.waiting_in_inbox(deps)]
        return JSONResponse({"count": len(items), "leads": items})

    @api.post("/v1/leads/{lead_id}/keep")
    async def keep_lead(lead_id: uuid.UUID, head: Head, deps: Deps) -> JSONResponse:
        pending = await service.keep_inbox_lead(deps, lead_id, head, utcnow())
        return JSONResponse(_decided(pending, await announced(deps, pending)))

    @api.post("/v1/leads/{lead_id}/assign")
    async def assign_lead(lead_id: uuid.UUID, request: AssignRequest, head: Head,
                          deps: Deps) -> JSONResponse:
        pending = await service.assign_inbox_lead(deps, lead_id, request.employee_id, utcnow())
        return JSONResponse(_decided(pending, await announced(deps, pending)))

    return api


def install_inbox(app: FastAPI, broker: KafkaBroker) -> None:
    app.include_router(inbox_routes(broker))
    app.add_exception_handler(Refused, refused_response)
