"""The router's HTTP side beyond health: which rules are in force, and why a changed file
was refused. For whoever may read the rules (`rules:read`: every person, an integration given
it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from faststream.kafka import KafkaBroker

from services.router.service import Routing
from shared.access.http import Guard, errors
from shared.access.principals import Principal, Scope


def rules_routes(broker: KafkaBroker) -> APIRouter:
    routes = APIRouter(tags=["rules"])
    guard = Guard(broker)

    @routes.get("/v1/rules", responses=errors(401, 403))
    async def rules_in_force(_: Principal = Depends(guard.allow(Scope.RULES_READ)),
                             deps: Routing = Depends(Routing.provider(broker))
                             ) -> dict[str, object]:
        """The rules file, the version in force, and the last refused change (line, field,
        message of each problem) until the file is fixed."""
        return deps.rules.status()

    return routes
