"""The router's HTTP side beyond health: which rules are in force, and why a changed file
was refused."""

from __future__ import annotations

from fastapi import APIRouter

from services.router.in_force import RulesInForce


def rules_routes(rules: RulesInForce) -> APIRouter:
    routes = APIRouter(tags=["rules"])

    @routes.get("/v1/rules")
    async def rules_in_force() -> dict[str, object]:
        """The rules file, the version in force, and the last refused change (line, field,
        message of each problem) until the file is fixed."""
        return rules.status()

    return routes
