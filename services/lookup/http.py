"""Caller look-up for operators: `GET /v1/callers/{phone}`, what the screen shows while the
phone rings. For whoever may read clients (`clients:read`); every look-up of a number is a line
of the audit log (`caller.look_up`, the number as the subject), and the number is masked in
the access log like everywhere in the logs."""

from __future__ import annotations

import logging
from typing import Literal
from urllib.parse import unquote

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pydantic import Field

from services.lookup import service
from services.lookup.service import Lookup
from shared.access.http import Access, ErrorAnswer, Guard, errors
from shared.access.principals import Principal, Scope
from shared.observability.logs import mask_phones

CALLERS_PATH = "/v1/callers/"


class UnknownCaller(ErrorAnswer):
    """A number that is not in the client base."""

    known: Literal[False] = False
    phone: str = Field(description="The number, normalised (E.164).", examples=["+79161234567"])


def caller_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter(tags=["callers"])
    guard = Guard(broker)

    @api.get("/v1/callers/{phone}", responses={
        **errors(400, 401, 403),
        404: {"model": UnknownCaller, "description": "Not in the client base"}})
    async def look_up_caller(phone: str,
                             principal: Principal = Depends(guard.allow(Scope.CLIENTS_READ)),
                             deps: Lookup = Depends(Lookup.provider(broker)),
                             access: Access = Depends(Access.provider(broker))) -> JSONResponse:
        view = await service.look_up_caller(deps, phone)
        if view is None:
            return JSONResponse(
                {"error": f"{phone!r} is not a phone number", "where": "phone"}, status_code=400
            )
        record, ownership, shopping = view.caller, view.ownership, view.shopping
        await access.store.audit(principal, "caller.look_up", view.phone,
                                 {"known": record.client is not None})
        if record.client is None:
            return JSONResponse(
                {"known": False, "phone": view.phone,
                 "error": f"{view.phone} is not in the client base", "where": "phone"},
                status_code=404,
            )
        return JSONResponse({
            "known": True,
            "phone": view.phone,
            "client": record.client.model_dump(mode="json"),
            "segment": record.client.segment.value,
            "owner": ({"employee_id": str(ownership.owner.employee_id),
                       "name": ownership.owner.name,
                       "department": ownership.owner.department.value,
                       "since": ownership.since.isoformat()} if ownership else None),
            "open_leads": [lead.model_dump(mode="json") for lead in record.open_leads],
            "recent_contacts": [c.model_dump(mode="json") for c in record.recent_contacts],
            "shopping_around": shopping is not None,
            "shopping_reasons": shopping.reasons if shopping else [],
        })

    return api


class MaskCallerPaths(logging.Filter):
    """uvicorn's access line carries the path, so the number of `/v1/callers/{phone}`: it is
    masked like every caller number in the logs (the audit log has it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) \
                and args[2].startswith(CALLERS_PATH):
            typed = unquote(args[2][len(CALLERS_PATH):].split("?", 1)[0])
            masked = mask_phones(typed)
            record.args = (*args[:2], CALLERS_PATH + (masked if masked != typed else "***"),
                           *args[3:])
        return True
