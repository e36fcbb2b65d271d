"""The pages' toolkit: templates and fragments in the person's language, the navigation by
role, the signed-in person of a page, refusals as pages, and the one event stream of a page.

Adding a page (see services/desk/README.md): a template that extends `base.html`, a
`NavItem` in `NAV`, a route in http.py that renders it with `web.page(...)`, and, for live
updates, a `LivePage` whose stream `live_stream` serves."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
import phonenumbers
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from faststream.kafka import KafkaBroker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.staticfiles import StaticFiles

from services.desk.i18n import LOCALES, Catalogs, locale_or_default
from services.desk.live import Change, Hub, Resync
from services.desk.policy import FieldError, Reason, opens_operator_screen
from services.desk.sales import clock, has_leads
from shared.access.credentials import token_hash
from shared.access.http import CSRF_HEADER, SESSION_COOKIE, Access, Refused, refused_answer
from shared.access.principals import Principal
from shared.events import utcnow
from shared.wiring import Dependencies

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Rendered in place of a person's CSRF token in what many screens share (a card), and
# replaced per screen: the token differs per session, the rest does not.
CSRF_SLOT = "__csrf_token__"


@dataclass(frozen=True)
class NavItem:
    """A page in the navigation, shown to whom `shown` says."""

    path: str
    label: str  # catalog key
    shown: Callable[[Principal], bool]


def works_the_inbox(viewer: Principal) -> bool:
    return viewer.works_the_inbox


# The pages, in the order of the navigation; the first one a person may open is their home:
# the head of sales' inbox, the operator's calls, a person's own leads.
NAV: list[NavItem] = [
    NavItem("/inbox", "nav.inbox", works_the_inbox),
    NavItem("/operator", "nav.operator", opens_operator_screen),
    NavItem("/leads", "nav.leads", has_leads),
    NavItem("/dashboard", "nav.dashboard", works_the_inbox),
]


def home_of(principal: Principal) -> str | None:
    return next((item.path for item in NAV if item.shown(principal)), None)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def local_path(target: str | None, default: str = "/") -> str:
    """A redirect target from a form or a header, kept on this site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def same_origin(request: Request, public_url: str, *, hidden_origin: bool = False) -> bool:
    """A form sent from this site's own page: the browser's `Origin` (else its `Referer`)
    names this host, as the request reached it or as people open it
    (`SWITCHBOARD_ACCESS_PUBLIC_URL`). With neither (curl, a script: no browser of a person
    who could be tricked) it is let through.

    `Origin: null` is a page without an origin of its own (a sandboxed frame, a data: URL)
    and is refused, unless `hidden_origin`: browsers also send it for a form on a page that
    asks for no Referer (`Referrer-Policy: no-referrer`), as the invitation page does; there
    the secret in the form's address decides."""
    origin = request.headers.get("origin")
    if origin == "null" and hidden_origin and "referer" not in request.headers:
        return True
    sender = origin if origin is not None else request.headers.get("referer") or None
    if sender is None:
        return True
    own = {request.headers.get("host"), urlsplit(public_url).netloc} - {None, ""}
    return urlsplit(sender).netloc in own


@dataclass(frozen=True)
class Web(Dependencies):
    """The templates and texts of the pages, built once by main.py."""

    catalogs: Catalogs
    zone: ZoneInfo
    env: jinja2.Environment = field(default_factory=lambda: _environment())

    # --- texts --------------------------------------------------------------------------

    def t(self, locale: str, key: str, /, **values: Any) -> str:
        return self.catalogs.text(locale, key, **values)

    def reason(self, locale: str, reason: Reason) -> str:
        return self.t(locale, reason.key, **reason.values)

    def field_error(self, locale: str, error: FieldError) -> str:
        """A field's problem in the person's language: `error.<field>.<type>`, else
        `error.<type>`, else pydantic's words."""
        values = {k: _plain(v) for k, v in error.context.items()}
        return (self.catalogs.first(locale, [f"error.{error.field}.{error.type}",
                                             f"error.{error.type}"], **values)
                or error.message)

    # --- rendering ----------------------------------------------------------------------

    def context(self, locale: str, **values: Any) -> dict[str, Any]:
        """What every template gets: `t` (texts), `when`, `day` and `date` (a time, a day with
        its time, a day: in the desk's zone),
        `phone` (a number as people read it), the locale."""
        locale = locale_or_default(locale)
        return {
            "locale": locale, "locales": LOCALES,
            "t": lambda key, **kw: self.catalogs.text(locale, key, **kw),
            "when": lambda moment: _when(moment, self.zone),
            "day": lambda moment: _day(moment, self.zone, locale),
            "date": lambda moment: _date(moment, self.zone, locale),
            "phone": readable_phone,
            "money": lambda value, currency=None: money(value, currency, locale),
            "percent": lambda share: percent(share, locale),
            "clock": clock,
            **values,
        }

    def fragment(self, template: str, locale: str, block: str | None = None,
                 **values: Any) -> str:
        """A template, or one `{% block %}` of it, as a string: what htmx swaps and what an
        event stream sends."""
        compiled = self.env.get_template(template)
        context = self.context(locale, **values)
        if block is None:
            return compiled.render(context)
        return "".join(compiled.blocks[block](compiled.new_context(context)))

    def page(self, request: Request, template: str, principal: Principal | None, *,
             status: int = 200, locale: str | None = None, **values: Any) -> HTMLResponse:
        """A whole page: the navigation the person may use, their CSRF token, the path."""
        locale = locale_or_default(locale or (principal.locale if principal else None))
        html = self.fragment(
            template, locale,
            principal=principal,
            nav=[item for item in NAV if principal and item.shown(principal)],
            path=request.url.path,
            csrf=getattr(request.state, "csrf_token", ""),
            csrf_header=CSRF_HEADER,
            **values)
        return HTMLResponse(html, status_code=status)

    def flash(self, locale: str, text: str, *, error: bool = False) -> str:
        """A message in the page's message area, as an out-of-band swap."""
        return self.fragment("flash.html", locale, text=text, error=error)

    def refused(self, request: Request, refused: Refused) -> Response:
        """A `Refused` on a page: sign in again (401), or the reason in the person's words;
        the machines' API (`/v1/`) keeps its JSON answers."""
        principal = getattr(request.state, "principal", None)
        locale = locale_or_default(principal.locale if principal else None)
        if refused.status == 401:
            target = "/login?next=" + quote(local_path(request.url.path), safe="/")
            if is_htmx(request):
                return Response(status_code=200, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        key = ("error.csrf" if refused.where == CSRF_HEADER
               else "error.forbidden" if refused.status == 403 else "error.refused")
        text = self.t(locale, key)
        if is_htmx(request):
            return HTMLResponse(self.flash(locale, text, error=True), status_code=refused.status,
                                headers={"HX-Reswap": "none"})
        return self.page(request, "message.html", principal, status=refused.status,
                         locale=locale, title=self.t(locale, "error.title"), text=text)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["html"]),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def _plain(value: Any) -> Any:
    return str(value) if not isinstance(value, int | float | str) else value


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M:%S") if moment else ""


def _day(moment: datetime | None, zone: ZoneInfo, locale: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return local.strftime("%d.%m.%Y %H:%M" if locale == "ru" else "%Y-%m-%d %H:%M")


def _date(moment: datetime | date | None, zone: ZoneInfo, locale: str) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = moment.astimezone(zone)
    return moment.strftime("%d.%m.%Y" if locale == "ru" else "%Y-%m-%d")


def money(value: Decimal | float | None, currency: str | None, locale: str) -> str:
    """A sum as people read it: 5 000 000 RUB (Russian), 5,000,000 RUB (English); kopecks
    only when there are any."""
    if value is None:
        return ""
    amount = Decimal(value)
    digits = f"{amount:,.2f}" if amount != amount.to_integral_value() else f"{amount:,.0f}"
    if locale == "ru":
        digits = digits.replace(",", "\u00a0").replace(".", ",")
    return f"{digits}\u00a0{currency}" if currency else digits


def percent(share: float | None, locale: str) -> str:
    """A share as a whole percentage: 84%, 84 % in Russian."""
    if share is None:
        return ""
    return f"{round(share * 100)}\u00a0%" if locale == "ru" else f"{round(share * 100)}%"


def readable_phone(number: str | None) -> str:
    if not number or not number.startswith("+"):
        return number or ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(number),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return number


def install_pages(app: FastAPI, broker: KafkaBroker) -> None:
    """The static files, and `Refused` answered as pages for people (JSON for `/v1/`). Call
    it after `install_refusals`."""

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, Refused)
        if request.url.path.startswith("/v1/"):
            return await refused_answer(request, error)
        return Web.of(broker).refused(request, error)

    app.add_exception_handler(Refused, refused)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


# --- the one event stream of a page ---------------------------------------------------------


class LivePage(Protocol):
    """What a live page's stream sends: the page's live part drawn from the database (on
    every (re)connect, and when the browser fell behind), then what each change alters of
    it (None: nothing; a page may answer after a look-up, awaitably). `shown` is the set of
    keys (e.g. call ids) the browser has; both keep it."""

    async def snapshot(self, principal: Principal, csrf: str, shown: set[str]) -> str: ...

    def update(self, principal: Principal, csrf: str, change: Change, shown: set[str]
               ) -> str | None | Awaitable[str | None]: ...


# The names of the stream's events, as the pages' `sse-swap` attributes name them.
UPDATE_EVENT = "update"
SIGNED_OUT_EVENT = "signed-out"


def live_stream(request: Request, hub: Hub, page: LivePage, principal: Principal,
                access: Access, check_every: float, web: Web) -> EventSourceResponse:
    """The page's event stream: every message is HTML with out-of-band swaps (htmx's SSE
    extension swaps it). The session is checked every `check_every` seconds: one that ended
    (signed out everywhere, expired) ends the stream with a `signed-out` event."""
    csrf = getattr(request.state, "csrf_token", "")
    cookie = request.cookies.get(SESSION_COOKIE)

    async def events() -> AsyncIterator[ServerSentEvent]:
        shown: set[str] = set()
        clock = asyncio.get_running_loop().time
        with hub.connect() as stream:  # before the snapshot, so no change falls in between
            yield ServerSentEvent(await page.snapshot(principal, csrf, shown), event=UPDATE_EVENT)
            check_at = clock() + check_every
            while True:
                item = await stream.next(max(0.0, check_at - clock()))
                if clock() >= check_at:
                    check_at = clock() + check_every
                    if cookie and not await _session_valid(access, cookie):
                        text = web.t(principal.locale, "session.ended")
                        yield ServerSentEvent(web.fragment("signed_out.html", principal.locale,
                                                           text=text), event=SIGNED_OUT_EVENT)
                        return
                if item is None:
                    continue
                if isinstance(item, Resync):
                    html = await page.snapshot(principal, csrf, shown)
                else:
                    try:
                        answer = page.update(principal, csrf, item, shown)
                        html = await answer if inspect.isawaitable(answer) else answer
                    except Exception:  # a look-up failed: this change is lost, not the page
                        log.warning("a live update of %s failed", request.url.path,
                                    exc_info=True)
                        continue
                if html:
                    yield ServerSentEvent(html, event=UPDATE_EVENT)

    # send_timeout: a browser that takes nothing for this long is dropped; it reconnects
    # and is drawn again.
    return EventSourceResponse(events(), ping=15, send_timeout=30,
                               headers={"Cache-Control": "no-store"})


async def _session_valid(access: Access, cookie: str) -> bool:
    try:
        session = await access.store.session(
            token_hash(cookie), utcnow(), timedelta(minutes=access.settings.session_idle_minutes))
    except Exception:  # the database away for a moment: keep the page, check again later
        log.warning("checking a stream's session failed", exc_info=True)
        return True
    return session is not None

