"""Caller look-up for operators: `GET /v1/callers/{phone}`, what the screen shows while the
phone rings."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from services.lookup.handlers import shopping_rules
from services.lookup.policy import current_ownership, detect_shopping
from services.lookup.repository import ClientBase
from shared.events import CallerStatus, utcnow
from shared.phones import normalise
from shared.settings import LookupSettings


def caller_routes(broker: KafkaBroker, settings: LookupSettings) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/callers/{phone}")
    async def look_up_caller(phone: str) -> JSONResponse:
        number = normalise(phone, settings.default_region)
        if number.status in (CallerStatus.WITHHELD, CallerStatus.UNPARSEABLE):
            return JSONResponse(
                {"error": f"{phone!r} is not a phone number", "where": "phone"}, status_code=400
            )
        clients: ClientBase = broker.context.get("clients")
        record = await clients.find_caller(number.value)
        if record.client is None:
            return JSONResponse(
                {"known": False, "phone": number.value,
                 "error": f"{number.value} is not in the client base"},
                status_code=404,
            )
        now = utcnow()
        ownership = current_ownership(record.ownership, now,
                                      timedelta(days=settings.ownership_lapse_days))
        # Without a call in progress only the history can tell: K employees within W.
        shopping = detect_shopping(None, None, record.recent_contacts, now=now,
                                   rules=shopping_rules(settings))
        return JSONResponse({
            "known": True,
            "phone": number.value,
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
