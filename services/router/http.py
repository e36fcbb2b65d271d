"""The router's HTTP side beyond health: which rules are in force, and why a changed file
was refused."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from faststream.kafka import KafkaBroker

from services.router.service import Routing


def rules_routes(broker: KafkaBroker) -> APIRouter:
    routes = APIRouter(tags=["rules"])

    @routes.get("/v1/rules")
    async def rules_in_force(deps: Routing = Depends(Routing.provider(broker))
                             ) -> dict[str, object]:
        """The rules file, the version in force, and the last refused change (line, field,
        message of each problem) until the file is fixed."""
        return deps.rules.status()

    return routes
