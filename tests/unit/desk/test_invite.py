"""The invitation link's page with the access store in memory: the form (the password twice,
the rules beside it, Russian or English), its errors beside the fields, a link used, expired
or unknown (404 / 410 and nothing of whose it was), a form from another site refused, and the
person signed in once the password is set. The pure rules first."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from services.desk.http import LINK_GONE, desk_routes
from services.desk.i18n import LOCALES, Catalogs
from services.desk.invitations import Invitation, LinkState, link_state, password_errors
from services.desk.service import Invitations
from services.desk.web import Web, install_pages, same_origin
from shared.access.credentials import token_hash, verify_password
from shared.access.http import SESSION_COOKIE, Access, install_refusals
from shared.access.principals import Principal, person
from shared.events import Department, Role, utcnow
from shared.settings import AccessSettings
from tests.fakes.desk import FakeAccessStore

NOW = utcnow()
PASSWORD = "correct horse battery"
TOKEN = "sbv_" + "a" * 43
EMAIL = "olga@example.com"
CATALOGS = Catalogs()


def invitation(**kw) -> Invitation:
    return Invitation(**{"employee_id": uuid.uuid4(), "email": EMAIL, "locale": "ru",
                         "expires_at": NOW + timedelta(hours=1), "used_at": None, **kw})


# ---------------------------------------------------------------------------- pure rules


def test_a_link_works_once_until_it_expires():
    assert link_state(None, NOW) is LinkState.UNKNOWN
    assert link_state(invitation(), NOW) is LinkState.OPEN
    assert link_state(invitation(used_at=NOW - timedelta(minutes=1)), NOW) is LinkState.USED
    assert link_state(invitation(expires_at=NOW), NOW) is LinkState.EXPIRED
    assert [s.status for s in LinkState] == [200, 404, 410, 410]


@pytest.mark.parametrize("password, again, expected", [
    ("", "", {"password": "error.missing"}),
    ("short", "short", {"password": "invite.too_short"}),
    (" " + PASSWORD, " " + PASSWORD, {"password": "invite.spaces"}),
    (PASSWORD + " ", PASSWORD + " ", {"password": "invite.spaces"}),
    ("x" * 1025, "x" * 1025, {"password": "error.string_too_long"}),
    (PASSWORD, PASSWORD + "!", {"password_again": "invite.mismatch"}),
    (PASSWORD, PASSWORD, {}),
])
def test_the_password_follows_the_stores_rules_and_is_typed_twice(password, again, expected):
    assert {k: r.key for k, r in password_errors(password, again).items()} == expected


def test_every_link_that_does_not_work_has_its_words():
    assert set(LINK_GONE) == set(LinkState) - {LinkState.OPEN}
    assert all(CATALOGS.has(key) for key in LINK_GONE.values())


# ---------------------------------------------------------------------------- the page


@dataclass
class FakeLinks:
    links: dict[str, Invitation] = field(default_factory=dict)

    async def invitation(self, token_hash: str) -> Invitation | None:
        return self.links.get(token_hash)


class InvitingStore(FakeAccessStore):
    """The access store's side of an invitation and of a sign-in."""

    def __init__(self, links: FakeLinks, principal: Principal) -> None:
        super().__init__()
        self.links, self.principal = links, principal
        self.password_hash: str | None = None
        self.closed: list[uuid.UUID] = []

    async def use_invitation(self, token_hash: str, password_hash: str, now: datetime
                             ) -> str | None:
        found = self.links.links.get(token_hash)
        if found is None or link_state(found, now) is not LinkState.OPEN:
            return None
        self.links.links[token_hash] = replace(found, used_at=now)
        self.password_hash = password_hash
        return found.email

    async def close_all_sessions(self, employee_id: uuid.UUID, now: datetime) -> int:
        self.closed.append(employee_id)
        return 0

    async def sign_in(self, access: Access, email: str, password: str, address: str | None
                      ) -> tuple[Principal, str, str]:
        """`shared.access.http.sign_in` as this store would answer it."""
        assert email == self.principal.name and verify_password(self.password_hash, password)
        return self.principal, "sbs_cookie", "csrf"


@dataclass
class InvitePage:
    http: httpx.AsyncClient
    links: FakeLinks
    store: InvitingStore
    invited: Invitation


@pytest.fixture
async def page(monkeypatch) -> AsyncIterator[InvitePage]:
    invited = invitation()
    principal = person(invited.employee_id, EMAIL, "Olga", Department.CLIENT, Role.AGENT)
    links = FakeLinks({token_hash(TOKEN): invited})
    store = InvitingStore(links, principal)
    monkeypatch.setattr("services.desk.http.sign_in", store.sign_in)
    broker = KafkaBroker()
    Web(catalogs=CATALOGS, zone=ZoneInfo("Europe/Moscow")).install(broker)
    Invitations(links=links).install(broker)
    settings = AccessSettings(public_url="https://desk.example")
    Access(store=store, settings=settings).install(broker)  # type: ignore[arg-type]
    app = FastAPI()
    install_refusals(app)
    install_pages(app, broker)
    app.include_router(desk_routes(broker))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://desk.test") as http:
        yield InvitePage(http, links, store, invited)


def form(password: str = PASSWORD, again: str | None = None, **more: str) -> dict[str, str]:
    return {"password": password, "password_again": password if again is None else again,
            **more}


async def test_the_page_asks_for_the_password_twice_with_the_rules(page):
    answer = await page.http.get(f"/invite/{TOKEN}")
    html = answer.text
    assert answer.status_code == 200 and '<html lang="ru">' in html
    assert '<label for="invite-password">Новый пароль</label>' in html
    assert '<label for="invite-password_again">Пароль ещё раз</label>' in html
    assert "Не короче 10 символов, без пробелов в начале и в конце." in html
    assert f'value="{EMAIL}" readonly' in html and 'autocomplete="new-password"' in html
    assert f'action="/invite/{TOKEN}"' in html
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    english = await page.http.get(f"/invite/{TOKEN}?lang=en")
    assert '<html lang="en">' in english.text and "Set your password" in english.text
    assert "At least 10 characters" in english.text


async def test_errors_stand_beside_their_fields_and_nothing_is_set(page):
    short = await page.http.post(f"/invite/{TOKEN}", data=form("short"))
    other = await page.http.post(f"/invite/{TOKEN}", data=form(PASSWORD, "something else",
                                                               lang="en"))
    assert short.status_code == other.status_code == 422
    assert 'id="invite-password-error">Нужно хотя бы 10 символов</p>' in short.text
    assert 'aria-describedby="invite-rules invite-password-error"' in short.text
    assert 'id="invite-password_again-error">The passwords are not the same</p>' in other.text
    assert PASSWORD not in other.text  # a password is never sent back
    assert page.store.password_hash is None


async def test_the_password_is_set_once_and_the_person_is_signed_in(page):
    answer = await page.http.post(f"/invite/{TOKEN}", data=form(),
                                  headers={"Origin": "http://desk.test"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/operator")
    assert SESSION_COOKIE in answer.headers["set-cookie"]
    assert verify_password(page.store.password_hash, PASSWORD)
    assert page.store.closed == [page.invited.employee_id]  # sessions of an old password end
    assert ("password.set", EMAIL) in page.store.audited
    again = await page.http.post(f"/invite/{TOKEN}", data=form("another password!"))
    opened = await page.http.get(f"/invite/{TOKEN}")
    assert again.status_code == opened.status_code == 410
    assert "По этой ссылке пароль уже задан" in opened.text
    assert verify_password(page.store.password_hash, PASSWORD)


async def test_a_link_unknown_or_expired_says_so_and_nothing_else(page):
    unknown = await page.http.get("/invite/sbv_nothing?lang=en")
    assert unknown.status_code == 404 and "There is no such link" in unknown.text
    page.links.links[token_hash(TOKEN)] = replace(page.invited, expires_at=NOW)
    expired = await page.http.get(f"/invite/{TOKEN}")
    posted = await page.http.post(f"/invite/{TOKEN}", data=form())
    assert expired.status_code == posted.status_code == 410
    assert "Срок действия ссылки истёк" in expired.text
    for answer in (unknown, expired, posted):
        assert EMAIL not in answer.text and "<form" not in answer.text.split("</header>")[1]
    assert page.store.password_hash is None


async def test_a_form_from_another_site_is_refused(page):
    answer = await page.http.post(f"/invite/{TOKEN}", data=form(),
                                  headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "с другого сайта" in answer.text
    assert page.store.password_hash is None
    public = await page.http.post(f"/invite/{TOKEN}", data=form(),
                                  headers={"Origin": "https://desk.example"})
    assert public.status_code == 303  # the address people open the desk at


def test_same_origin_is_this_host_or_the_public_address():
    from starlette.requests import Request

    def request(**headers: str) -> Request:
        return Request({"type": "http", "method": "POST", "path": "/", "headers": [
            (k.lower().encode(), v.encode()) for k, v in headers.items()]})

    public = "https://desk.example/"
    assert same_origin(request(Host="desk.test"), public)  # no Origin: the link's secret decides
    assert same_origin(request(Host="desk.test", Origin="http://desk.test"), public)
    assert same_origin(request(Host="10.0.0.5:8005", Origin="https://desk.example"), public)
    assert not same_origin(request(Host="desk.test", Origin="https://evil.example"), public)
    assert not same_origin(request(Host="desk.test", Origin="null"), public)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_invitation_texts_exist_in_both_languages(locale):
    for key in ("invite.title", "invite.rules", "invite.mismatch", "invite.other_site"):
        assert CATALOGS.text(locale, key, count=10) != key
