"""The invitation link's page with the access store in memory: the form (the password twice,
the rules beside it, Russian or English), its errors beside the fields, a link used, expired
or unknown (404 / 410 and nothing of whose it was), a form from another site refused, and the
person signed in once the password is set. The pure rules first."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

import httpx
import pytest

from services.desk.http import LINK_GONE
from services.desk.i18n import LOCALES, Catalogs
from services.desk.invitations import LinkState, link_state, password_errors
from services.desk.web import same_origin
from shared.access import credentials
from shared.access.credentials import token_hash, verify_password
from shared.access.http import SESSION_COOKIE
from shared.access.principals import person
from shared.access.store import Invitation
from shared.events import Department, Role, utcnow
from shared.settings import AccessSettings
from tests.component.wiring import desk_app
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


class InvitingStore(FakeAccessStore):
    """The access store in memory, the invited person's password at hand."""

    @property
    def password_hash(self) -> str | None:
        return self.passwords.get(EMAIL)


@dataclass
class InvitePage:
    http: httpx.AsyncClient
    store: InvitingStore
    invited: Invitation


@pytest.fixture
async def page() -> AsyncIterator[InvitePage]:
    store = InvitingStore()
    principal = person(uuid.uuid4(), EMAIL, "Olga", Department.CLIENT, Role.AGENT)
    invited = store.invite(principal, TOKEN, NOW + timedelta(hours=1))
    app, _, _ = desk_app(access=store, settings=AccessSettings(public_url="https://desk.example"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://desk.test") as http:
        yield InvitePage(http, store, invited)


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
    page.store.invitations[token_hash(TOKEN)] = replace(page.invited, expires_at=NOW)
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


async def test_the_form_of_its_own_page_is_taken_as_a_browser_sends_it(page):
    # The page sends no Referer (Referrer-Policy: no-referrer), so a browser hides the
    # origin of its form too: `Origin: null`, and no Referer.
    answer = await page.http.post(f"/invite/{TOKEN}", data=form(), headers={"Origin": "null"})
    assert answer.status_code == 303, answer.text
    assert verify_password(page.store.password_hash, PASSWORD)


async def test_a_form_whose_referer_is_another_site_is_refused(page):
    for headers in ({"Referer": "https://evil.example/invite"},
                    {"Origin": "null", "Referer": "https://evil.example/invite"}):
        answer = await page.http.post(f"/invite/{TOKEN}", data=form(), headers=headers)
        assert answer.status_code == 403 and "с другого сайта" in answer.text, headers
    assert page.store.password_hash is None


async def test_setting_the_password_ends_the_persons_other_sessions(page):
    principal = page.store.people[EMAIL]
    cookie, _ = page.store.sign_in(principal)  # a session of before, an old password's
    old = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    before = await page.http.get("/operator", headers=old)
    done = await page.http.post(f"/invite/{TOKEN}", data=form())
    assert before.status_code == 200 and done.status_code == 303
    page.http.cookies.clear()
    after = await page.http.get("/operator", headers=old)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    assert token_hash(cookie) not in page.store.sessions
    assert len(page.store.sessions) == 1  # the one the link's use opened


async def test_the_password_is_hashed_off_the_event_loop(page, monkeypatch):
    threads: list[str] = []
    hash_password = credentials.hash_password

    def recorded(password: str) -> str:
        threads.append(threading.current_thread().name)
        return hash_password(password)

    monkeypatch.setattr(credentials, "hash_password", recorded)
    answer = await page.http.post(f"/invite/{TOKEN}", data=form())
    assert answer.status_code == 303
    assert len(threads) == 1 and threads != [threading.current_thread().name]


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
    # without an Origin, the Referer tells
    assert same_origin(request(Host="desk.test", Referer="http://desk.test/login"), public)
    assert same_origin(request(Host="desk.test", Referer="https://desk.example/x"), public)
    assert not same_origin(request(Host="desk.test", Referer="https://evil.example/"), public)
    assert not same_origin(request(Host="desk.test", Origin="https://evil.example",
                                   Referer="http://desk.test/"), public)
    # a hidden origin: taken only where our own page hides it, and never with a Referer
    assert same_origin(request(Host="desk.test", Origin="null"), public, hidden_origin=True)
    assert not same_origin(request(Host="desk.test", Origin="null",
                                   Referer="https://evil.example/"), public, hidden_origin=True)
    assert not same_origin(request(Host="desk.test", Origin="https://evil.example"), public,
                           hidden_origin=True)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_invitation_texts_exist_in_both_languages(locale):
    for key in ("invite.title", "invite.rules", "invite.mismatch", "invite.other_site"):
        assert CATALOGS.text(locale, key, count=10) != key
