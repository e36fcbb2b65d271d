"""Caller look-up for operators: `GET /v1/callers/{phone}`, what the screen shows while the
phone rings."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from services.lookup import service
from services.lookup.service import Lookup


def caller_routes(broker: KafkaBroker) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/callers/{phone}")
    async def look_up_caller(phone: str,
                             deps: Lookup = Depends(Lookup.provider(broker))) -> JSONResponse:
        view = await service.look_up_caller(deps, phone)
        if view is None:
            return JSONResponse(
                {"error": f"{phone!r} is not a phone number", "where": "phone"}, status_code=400
            )
        record, ownership, shopping = view.caller, view.ownership, view.shopping
        if record.client is None:
            return JSONResponse(
                {"known": False, "phone": view.phone,
                 "error": f"{view.phone} is not in the client base"},
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
