"""Refusals as people see them (sign in again, the reason in their language; JSON for
machines), redirects that stay on the site, fragments of a template."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI, Request
from faststream.kafka import KafkaBroker

from services.desk.i18n import Catalogs
from services.desk.web import Web, install_pages, local_path
from shared.access.http import CSRF_HEADER, Refused, install_refusals
from tests.unit.desk.samples import operator


@pytest.fixture
async def client():
    broker = KafkaBroker()
    Web(catalogs=Catalogs(), zone=ZoneInfo("Europe/Moscow")).install(broker)
    app = FastAPI()
    install_refusals(app)
    install_pages(app, broker)

    @app.get("/operator")
    async def page() -> None:
        raise Refused(401, "the session has ended; sign in again", "session")

    @app.post("/operator/change")
    async def change(request: Request) -> None:
        request.state.principal = operator(locale="en")
        raise Refused(403, "a change needs the page's CSRF token", CSRF_HEADER)

    @app.post("/v1/change")
    async def api_change() -> None:
        raise Refused(403, "a change needs the page's CSRF token", CSRF_HEADER)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://desk.test") as http:
        yield http


async def test_a_page_without_a_session_sends_the_person_to_sign_in(client):
    answer = await client.get("/operator")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=/operator")
    htmx = await client.get("/operator", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/login?next=/operator"


async def test_a_change_without_csrf_is_a_page_in_the_persons_language(client):
    answer = await client.post("/operator/change")
    assert answer.status_code == 403 and '<html lang="en">' in answer.text
    assert "The page is out of date" in answer.text
    htmx = await client.post("/operator/change", headers={"HX-Request": "true"})
    assert htmx.status_code == 403 and 'id="flash" hx-swap-oob="innerHTML"' in htmx.text
    assert htmx.headers["HX-Reswap"] == "none"


async def test_the_machines_api_keeps_its_json_answers(client):
    answer = await client.post("/v1/change")
    assert answer.status_code == 403 and answer.json()["where"] == CSRF_HEADER


async def test_the_vendored_scripts_are_served(client):
    for name in ("htmx.min.js", "sse.min.js", "desk.css"):
        assert (await client.get(f"/static/{name}")).status_code == 200
    assert "htmx.org 2." in (await client.get("/static/htmx.min.js")).text[:200]
    assert "htmx-ext-sse 2." in (await client.get("/static/sse.min.js")).text[:200]


@pytest.mark.parametrize("target, expected", [
    ("/operator", "/operator"), (None, "/"), ("", "/"), ("https://evil.example/", "/"),
    ("//evil.example", "/"), ("/\\evil", "/"),
])
def test_redirects_stay_on_the_site(target, expected):
    assert local_path(target) == expected


def test_a_block_of_a_template_renders_alone():
    web = Web(catalogs=Catalogs(), zone=ZoneInfo("UTC"))
    html = web.fragment("operator.html", "ru", block="cards_oob", cards=["<article>x</article>"])
    assert html == '<section id="cards" hx-swap-oob="innerHTML"><article>x</article></section>'
