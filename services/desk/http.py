"""The desk's HTTP entry points: sign-in, the person's language, the operator's screen and its
event stream, the qualification form and the people's corrections of the client base; the
head of sales' inbox (keep, assign) and dashboard, a person's own leads and calls and a
lead's outcome; and `POST /v1/calls/{call_id}/qualification` for machines.

Pages need a signed-in person (else /login); every change needs the page's CSRF token (the
`X-CSRF-Token` header htmx sends from `<body hx-headers>`, or the form's `csrf_token`); the
sign-in and invitation forms, which no session protects yet, are refused (403) when a browser
sends them from another site's page (`web.same_origin`). A page or form that shows a call's
card or a lead (who is calling: client, owner, open leads, contacts) needs `clients:read`, on
top of what it changes (`clients:write`, `calls:qualify`, `deals:write`) and of the role
whose page it is. `/invite/{token}` is the one page for
nobody signed in yet: a person sets their password with the link `switchboard user invite`
printed (tests/integration/test_desk_access.py holds the table of who may open what)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field
from starlette.datastructures import FormData

from services.desk import service
from services.desk.i18n import locale_or_default
from services.desk.invitations import LinkState, password_errors, password_rules
from services.desk.lookup_api import ApiAnswer, OnBehalf
from services.desk.policy import (DeskCall, Reason, Verdict, card, opens_operator_screen,
                                  verdict_from_form)
from services.desk.sales import MyLead, has_leads, lead_dom_id, outcome_from_form
from services.desk.screens import (FORM_CHOICES, InboxScreen, LeadsScreen, OperatorScreen,
                                   dashboard_charts, removed)
from services.desk.service import Closing, Desk, Invitations, Outcome, Qualification
from services.desk.web import (Web, home_of, is_htmx, live_stream, local_path, readable_phone,
                               same_origin)
from shared.access.credentials import token_hash
from shared.access.http import (SESSION_COOKIE, Access, Guard, Refused, errors, set_session_cookie,
                                sign_in)
from shared.access.principals import Principal, Scope
from shared.access.store import Invitation
from shared.events import Segment, utcnow

CLIENT_NAME_MAX = 200


class QualificationAccepted(BaseModel):
    call_id: str = Field(examples=["office-1:a1b2"])
    status: str = Field(description="`qualified`, or `already qualified` when the same verdict "
                        "was given before (nothing was published again).",
                        examples=["qualified"])
    event_id: str = Field(description="The CallQualified event on calls.qualified.",
                          examples=["0b6c2f8e-3f57-5d2b-9a43-c0d1e7f2a9b4"])


def desk_routes(broker: KafkaBroker, *, check_sessions_every: float = 60) -> APIRouter:
    api = APIRouter()
    guard = Guard(broker)
    person = guard.principal()
    reader = guard.allow(Scope.CLIENTS_READ)  # what a card or a lead shows
    desk_of, web_of, access_of = (Desk.provider(broker), Web.provider(broker),
                                  Access.provider(broker))
    invitations_of = Invitations.provider(broker)

    def reader_who_may(scope: Scope) -> Callable[..., Awaitable[Principal]]:
        async def allowed(principal: Principal = Depends(reader)) -> Principal:
            if not principal.may(scope):
                raise Refused(403, f"{principal.display_name} may not {scope.value}", "scope")
            return principal

        return allowed

    qualifier = reader_who_may(Scope.CALLS_QUALIFY)  # the card's qualification form
    corrector = reader_who_may(Scope.CLIENTS_WRITE)  # the card's client-base corrections
    closer = reader_who_may(Scope.DEALS_WRITE)  # a lead's outcome form
    machine_qualifier = guard.allow(Scope.CALLS_QUALIFY)  # the API: it shows no card

    async def operator(principal: Principal = Depends(reader)) -> Principal:
        if not opens_operator_screen(principal):
            raise Refused(403, f"{principal.display_name} has no operator screen", "role")
        return principal

    async def head_of_sales(principal: Principal = Depends(reader)) -> Principal:
        if not principal.works_the_inbox:
            raise Refused(403, f"{principal.display_name} is not the head of sales", "role")
        return principal

    async def employee(principal: Principal = Depends(reader)) -> Principal:
        if not has_leads(principal):
            raise Refused(403, f"{principal.display_name} is no employee with leads", "role")
        return principal

    # --- sign-in --------------------------------------------------------------------------

    @api.get("/", include_in_schema=False)
    async def home(request: Request, principal: Principal = Depends(person),
                   web: Web = Depends(web_of)) -> Response:
        target = home_of(principal)
        if target:
            return RedirectResponse(target, status_code=303)
        return web.page(request, "home.html", principal)

    @api.get("/login", include_in_schema=False)
    async def login_page(request: Request, web: Web = Depends(web_of)) -> HTMLResponse:
        return _login(request, web, lang=request.query_params.get("lang"),
                      next_path=local_path(request.query_params.get("next")))

    @api.post("/login", include_in_schema=False)
    async def login(request: Request, web: Web = Depends(web_of),
                    access: Access = Depends(access_of)) -> Response:
        form = await request.form()
        email, password = _field(form, "email"), str(form.get("password") or "")
        lang, target = _field(form, "lang"), local_path(_field(form, "next"))
        if not same_origin(request, access.settings.public_url):
            # Another site's form would sign the browser in to an account of its choosing.
            return _from_another_site(request, web, lang, "login.other_site")
        missing = {name: "error.missing" for name, value in
                   (("email", email), ("password", password)) if not value}
        if missing:
            return _login(request, web, lang=lang, next_path=target, email=email,
                          errors=missing, status=422)
        address = request.client.host if request.client else None
        try:
            principal, cookie, _ = await sign_in(access, email, password, address)
        except Refused as refused:
            if refused.status == 429:
                errors_ = {"email": ("login.too_many", {
                    "minutes": access.settings.sign_in_window_minutes})}
            else:  # the same words for an unknown e-mail and a wrong password
                errors_ = {"password": "login.wrong"}
            return _login(request, web, lang=lang, next_path=target, email=email,
                          errors=errors_, status=refused.status, headers=refused.headers)
        response = RedirectResponse(target if target != "/" else home_of(principal) or "/",
                                    status_code=303)
        set_session_cookie(response, access.settings, cookie)
        return response

    @api.post("/logout", include_in_schema=False)
    async def logout(request: Request, principal: Principal = Depends(person),
                     access: Access = Depends(access_of)) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await access.store.close_session(token_hash(cookie), utcnow())
        await access.store.audit(principal, "session.close", principal.name)
        return _signed_out()

    @api.post("/logout/everywhere", include_in_schema=False)
    async def logout_everywhere(principal: Principal = Depends(person),
                                access: Access = Depends(access_of)) -> Response:
        ended = 0
        if principal.employee_id is not None:
            ended = await access.store.close_all_sessions(principal.employee_id, utcnow())
        await access.store.audit(principal, "session.close_everywhere", principal.name,
                                 {"sessions": ended})
        return _signed_out()

    # --- the invitation link --------------------------------------------------------------
    # Nobody is signed in here, so no session's CSRF token protects the form: the link's own
    # secret in the path does (a forged form on another site cannot know it), and a browser's
    # Origin must be this site's (or hidden: the page sends no Referer, see `same_origin`).

    @api.get("/invite/{token}", include_in_schema=False)
    async def invitation_page(token: str, request: Request, web: Web = Depends(web_of),
                              links: Invitations = Depends(invitations_of)) -> Response:
        state, invitation = await service.invitation_link(links.links, token, utcnow())
        lang = request.query_params.get("lang")
        if invitation is None or state is not LinkState.OPEN:
            return _link_gone(request, web, state, lang or _locale_of(invitation))
        return _invitation(request, web, invitation, lang=lang)

    @api.post("/invite/{token}", include_in_schema=False)
    async def accept_invitation(token: str, request: Request, web: Web = Depends(web_of),
                                links: Invitations = Depends(invitations_of),
                                access: Access = Depends(access_of)) -> Response:
        form = await request.form()
        lang = _field(form, "lang") or None
        if not same_origin(request, access.settings.public_url, hidden_origin=True):
            return _private(_from_another_site(request, web, lang, "invite.other_site"))
        now = utcnow()
        state, invitation = await service.invitation_link(links.links, token, now)
        if invitation is None or state is not LinkState.OPEN:
            return _link_gone(request, web, state, lang or _locale_of(invitation))
        password = str(form.get("password") or "")  # as typed: spaces are the rules' business
        problems = password_errors(password, str(form.get("password_again") or ""))
        if problems:
            return _invitation(request, web, invitation, lang=lang, errors=problems, status=422)
        if not await service.set_invited_password(links.links, token, password, now):
            return _link_gone(request, web, LinkState.USED, lang or invitation.locale)
        address = request.client.host if request.client else None
        try:
            principal, cookie, _ = await sign_in(access, invitation.email, password, address)
        except Refused:  # not active yet, or this address past the sign-in limit
            locale = locale_or_default(lang or invitation.locale)
            return _private(web.page(request, "message.html", None, locale=locale,
                                     title=web.t(locale, "invite.done"),
                                     text=web.t(locale, "invite.sign_in")))
        response = RedirectResponse(home_of(principal) or "/", status_code=303)
        set_session_cookie(response, access.settings, cookie)
        return _private(response)

    @api.post("/locale", include_in_schema=False)
    async def choose_locale(request: Request, principal: Principal = Depends(person),
                            deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                            ) -> Response:
        locale = _field(await request.form(), "locale")
        if not await service.save_locale(deps, principal, locale):
            text = web.t(principal.locale, "error.locale", locale=locale)
            if is_htmx(request):
                return HTMLResponse(web.flash(principal.locale, text, error=True),
                                    status_code=422, headers={"HX-Reswap": "none"})
            return web.page(request, "message.html", principal, status=422,
                            title=web.t(principal.locale, "error.title"), text=text)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Refresh": "true"})
        back = urlsplit(request.headers.get("referer", "")).path
        return RedirectResponse(local_path(back), status_code=303)

    # --- the operator's screen ------------------------------------------------------------

    @api.get("/operator", include_in_schema=False)
    async def operator_page(request: Request, principal: Principal = Depends(operator),
                            deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                            ) -> HTMLResponse:
        screen = OperatorScreen(deps, web)
        cards, _ = await screen.cards(principal, getattr(request.state, "csrf_token", ""))
        return web.page(request, "operator.html", principal, cards=cards)

    @api.get("/operator/events", include_in_schema=False)
    async def operator_events(request: Request, principal: Principal = Depends(operator),
                              deps: Desk = Depends(desk_of), web: Web = Depends(web_of),
                              access: Access = Depends(access_of)) -> Response:
        return live_stream(request, deps.live.hub, OperatorScreen(deps, web), principal,
                           access, check_sessions_every, web)

    @api.post("/operator/calls/{call_id:path}/qualification", include_in_schema=False)
    async def qualify_by_form(call_id: str, request: Request,
                              principal: Principal = Depends(qualifier),
                              deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                              ) -> Response:
        locale = principal.locale
        form = await request.form()
        call = await service.find_call(deps, call_id)
        if call is None:
            return _failed(request, web, principal, web.t(locale, "error.unknown_call"), 404)
        verdict = verdict_from_form(form)
        if isinstance(verdict, list):
            messages = {e.field: web.field_error(locale, e) for e in verdict}
            return _card_form(request, web, principal, call, "qualify_form.html", form,
                              messages, 422)
        done = await service.qualify(deps, principal, call_id, verdict)
        return _qualified(request, web, principal, call, done)

    @api.post("/operator/calls/{call_id:path}/client", include_in_schema=False)
    async def create_client(call_id: str, request: Request,
                            principal: Principal = Depends(corrector),
                            deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                            ) -> Response:
        locale = principal.locale
        form = await request.form()
        call = await service.find_call(deps, call_id)
        if call is None or call.caller is None:
            return _failed(request, web, principal, web.t(locale, "error.unknown_call"), 404)
        name, segment = _field(form, "name"), _field(form, "segment")
        problems = {}
        if not name:
            problems["name"] = web.t(locale, "error.missing")
        elif len(name) > CLIENT_NAME_MAX:
            problems["name"] = web.t(locale, "error.string_too_long", max_length=CLIENT_NAME_MAX)
        if segment not in {s.value for s in Segment}:
            problems["segment"] = web.t(locale, "error.enum")
        if problems:
            return _card_form(request, web, principal, call, "client_form.html", form,
                              problems, 422)
        answer = await service.create_client(deps, _on_behalf(request), call, name,
                                             Segment(segment))
        if answer.ok:
            return _done(request, web, principal,
                         web.t(locale, "client.created", client=name))
        return _card_form(request, web, principal, call, "client_form.html", form,
                          _answer_errors(web, locale, answer, ("name", "segment")),
                          answer.status)

    @api.post("/operator/calls/{call_id:path}/not-this-client", include_in_schema=False)
    async def not_this_client(call_id: str, request: Request,
                              principal: Principal = Depends(corrector),
                              deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                              ) -> Response:
        locale = principal.locale
        call = await service.find_call(deps, call_id)
        if call is None:
            return _failed(request, web, principal, web.t(locale, "error.unknown_call"), 404)
        answer = await service.not_this_client(deps, _on_behalf(request), call)
        if isinstance(answer, Reason):
            return _card_form(request, web, principal, call, "not_this_client.html", {},
                              {"form": web.reason(locale, answer)}, 409)
        if answer.ok:
            shown = card(call)
            return _done(request, web, principal,
                         web.t(locale, "client.number_removed", client=shown.client_name or "",
                               number=readable_phone(call.caller)))
        return _card_form(request, web, principal, call, "not_this_client.html", {},
                          _answer_errors(web, locale, answer, ()), answer.status)

    # --- the head of sales' inbox ----------------------------------------------------------

    @api.get("/inbox", include_in_schema=False)
    async def inbox_page(request: Request, principal: Principal = Depends(head_of_sales),
                         deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                         ) -> HTMLResponse:
        screen = InboxScreen(deps, web, _on_behalf(request))
        drawn = await screen.draw(principal, getattr(request.state, "csrf_token", ""))
        return web.page(request, "inbox.html", principal, now=utcnow(), **drawn)

    @api.get("/inbox/events", include_in_schema=False)
    async def inbox_events(request: Request, principal: Principal = Depends(head_of_sales),
                           deps: Desk = Depends(desk_of), web: Web = Depends(web_of),
                           access: Access = Depends(access_of)) -> Response:
        return live_stream(request, deps.live.hub, InboxScreen(deps, web, _on_behalf(request)),
                           principal, access, check_sessions_every, web)

    @api.post("/inbox/leads/{lead_id}/keep", include_in_schema=False)
    async def keep_lead(lead_id: uuid.UUID, request: Request,
                        principal: Principal = Depends(head_of_sales),
                        deps: Desk = Depends(desk_of), web: Web = Depends(web_of)) -> Response:
        answer = await service.keep_lead(deps, _on_behalf(request), lead_id)
        if not answer.ok:
            return await _inbox_refused(request, web, deps, principal, lead_id, answer, ())
        text = web.t(principal.locale, "inbox.kept")
        return _decided(request, web, principal, text)

    @api.post("/inbox/leads/{lead_id}/assign", include_in_schema=False)
    async def assign_lead(lead_id: uuid.UUID, request: Request,
                          principal: Principal = Depends(head_of_sales),
                          deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                          ) -> Response:
        chosen = _field(await request.form(), "employee_id")
        try:
            employee_id = uuid.UUID(chosen)
        except ValueError:
            missing = ApiAnswer(422, web.t(principal.locale, "inbox.choose_negotiator"),
                                "employee_id")
            return await _inbox_refused(request, web, deps, principal, lead_id, missing,
                                        ("employee_id",), worded=True)
        answer = await service.assign_lead(deps, _on_behalf(request), lead_id, employee_id)
        if not answer.ok:
            return await _inbox_refused(request, web, deps, principal, lead_id, answer,
                                        ("employee_id",))
        text = web.t(principal.locale, "inbox.assigned",
                     name=str(answer.body.get("employee_name") or ""))
        return _decided(request, web, principal, text)

    # --- the dashboard --------------------------------------------------------------------

    @api.get("/dashboard", include_in_schema=False)
    async def dashboard_page(request: Request, principal: Principal = Depends(head_of_sales),
                             deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                             ) -> HTMLResponse:
        view = await service.dashboard(deps, utcnow())
        return web.page(request, "dashboard.html", principal, view=view,
                        charts=dashboard_charts(view, web, principal.locale))

    # --- a person's own leads and calls ---------------------------------------------------

    @api.get("/leads", include_in_schema=False)
    async def leads_page(request: Request, principal: Principal = Depends(employee),
                         deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                         ) -> HTMLResponse:
        drawn = await LeadsScreen(deps, web).draw(principal,
                                                  getattr(request.state, "csrf_token", ""))
        return web.page(request, "leads.html", principal, **drawn)

    @api.get("/leads/events", include_in_schema=False)
    async def leads_events(request: Request, principal: Principal = Depends(employee),
                           deps: Desk = Depends(desk_of), web: Web = Depends(web_of),
                           access: Access = Depends(access_of)) -> Response:
        return live_stream(request, deps.live.hub, LeadsScreen(deps, web), principal, access,
                           check_sessions_every, web)

    @api.post("/leads/{lead_id}/outcome", include_in_schema=False)
    async def record_outcome(lead_id: uuid.UUID, request: Request,
                             principal: Principal = Depends(closer),
                             deps: Desk = Depends(desk_of), web: Web = Depends(web_of)
                             ) -> Response:
        locale = principal.locale
        lead = await service.find_lead(deps, lead_id)
        if lead is None:
            return _failed(request, web, principal, web.t(locale, "error.unknown_lead"), 404)
        if lead.employee_id != principal.employee_id and not principal.works_the_inbox:
            raise Refused(403, f"{principal.display_name} does not work lead {lead_id}", "role")
        form = await request.form()
        outcome = outcome_from_form(form)
        if isinstance(outcome, list):
            messages = {e.field: web.field_error(locale, e) for e in outcome}
            return _outcome_form(request, web, principal, lead, form, messages, 422)
        done = await service.record_outcome(deps, _on_behalf(request), lead, outcome)
        if done.result is Closing.REFUSED:
            where = {"value": "final_value"}.get(done.answer.where or "", done.answer.where)
            text = web.t(locale, "outcome.refused", status=done.answer.status,
                         error=done.answer.error or "")
            field = where if where in ("outcome", "final_value", "currency") else "form"
            return _outcome_form(request, web, principal, lead, form, {field: text},
                                 done.answer.status)
        key = "outcome.recorded" if done.result is Closing.RECORDED else "outcome.already"
        text = web.t(locale, key, outcome=web.t(locale, f"lead.status.{done.lead.status}"))
        if not is_htmx(request):
            return RedirectResponse("/leads", status_code=303)
        moved = LeadsScreen(deps, web).moved(done.lead, principal,
                                             getattr(request.state, "csrf_token", ""))
        return HTMLResponse(moved + web.flash(locale, text))

    # --- for machines -----------------------------------------------------------------------

    @api.post("/v1/calls/{call_id:path}/qualification", status_code=202, tags=["calls"],
              responses=errors(401, 403, 404, 409, 422))
    async def qualify_call(call_id: str, verdict: Verdict,  # type: ignore[valid-type]
                           principal: Principal = Depends(machine_qualifier),
                           deps: Desk = Depends(desk_of)) -> QualificationAccepted:
        """The verdict on a call (published as `CallQualified` on calls.qualified, validated as
        there). A call gets one verdict: the same one again is accepted and changes nothing;
        another one is refused (409). An integration names the operator (`operator_id`)."""
        done = await service.qualify(deps, principal, call_id, verdict)
        if done.outcome is Outcome.UNKNOWN_CALL:
            raise Refused(404, f"the desk has not heard of call {call_id!r}", "call_id")
        if done.outcome is Outcome.NO_OPERATOR:
            raise Refused(422, "an integration names the operator who answered the call",
                          "operator_id")
        assert done.event is not None
        if done.outcome is Outcome.CONFLICT:
            raise Refused(409, f"the call is already qualified as {done.event.category.value}",
                          "call_id")
        return QualificationAccepted(call_id=call_id, status=done.outcome.value,
                                     event_id=str(done.event.event_id))

    return api


# --- helpers of the entry points ------------------------------------------------------------


def _field(form: FormData | dict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _login(request: Request, web: Web, *, lang: str | None, next_path: str, email: str = "",
           errors: dict[str, Any] | None = None, status: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    locale = locale_or_default(lang)
    messages = {}
    for name, error in (errors or {}).items():
        key, values = error if isinstance(error, tuple) else (error, {})
        messages[name] = web.t(locale, key, **values)
    response = web.page(request, "login.html", None, status=status, locale=locale, email=email,
                        errors=messages, next=next_path)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# What each link that no longer works says (LinkState.status is the page's status).
LINK_GONE = {LinkState.UNKNOWN: "invite.unknown", LinkState.USED: "invite.used",
             LinkState.EXPIRED: "invite.expired"}


def _private(response: Response) -> Response:
    """An answer of the invitation page: its address holds the link's secret, so no cache
    keeps it and no request from the page sends it on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _invitation(request: Request, web: Web, invitation: Invitation, *, lang: str | None,
                errors: dict[str, Reason] | None = None, status: int = 200) -> Response:
    """The form that sets the password: the person's e-mail (for their password manager),
    the rules, the password twice; in the person's language unless the page was asked for
    another."""
    locale = locale_or_default(lang or invitation.locale)
    messages = {name: web.reason(locale, reason) for name, reason in (errors or {}).items()}
    return _private(web.page(request, "invite.html", None, status=status, locale=locale,
                             email=invitation.email, rules=web.reason(locale, password_rules()),
                             errors=messages, action=request.url.path))


def _locale_of(invitation: Invitation | None) -> str | None:
    return invitation.locale if invitation else None


def _link_gone(request: Request, web: Web, state: LinkState, lang: str | None) -> Response:
    """A link that does not work: why, in a word, and nothing of whose it was."""
    locale = locale_or_default(lang)
    return _private(web.page(request, "message.html", None, status=state.status, locale=locale,
                             title=web.t(locale, "invite.gone"),
                             text=web.t(locale, LINK_GONE.get(state, "invite.unknown"))))


def _from_another_site(request: Request, web: Web, lang: str | None, key: str) -> Response:
    """A form of ours sent from another site's page: refused, nothing done, with what to do
    instead."""
    locale = locale_or_default(lang)
    return web.page(request, "message.html", None, status=403, locale=locale,
                    title=web.t(locale, "error.title"), text=web.t(locale, key))


def _signed_out() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _on_behalf(request: Request) -> OnBehalf:
    return OnBehalf(session_cookie=request.cookies.get(SESSION_COOKIE, ""),
                    csrf_token=getattr(request.state, "csrf_token", ""))


def _answer_errors(web: Web, locale: str, answer: ApiAnswer, fields: tuple[str, ...]
                   ) -> dict[str, str]:
    """The lookup's refusal beside the field it names, else above the form."""
    text = web.t(locale, "client.api_error", status=answer.status, error=answer.error or "")
    return {answer.where if answer.where in fields else "form": text}


def _failed(request: Request, web: Web, principal: Principal, text: str, status: int
            ) -> Response:
    if is_htmx(request):
        return HTMLResponse(web.flash(principal.locale, text, error=True), status_code=status,
                            headers={"HX-Reswap": "none"})
    return web.page(request, "message.html", principal, status=status,
                    title=web.t(principal.locale, "error.title"), text=text)


def _card_form(request: Request, web: Web, principal: Principal, call: DeskCall,
               template: str, form: FormData | dict, messages: dict[str, str], status: int
               ) -> Response:
    """One of a card's forms again, with what the person entered and the errors beside the
    fields; without htmx, the card alone on a page."""
    values = {key: value for key, value in form.items() if isinstance(value, str)
              and key != "csrf_token"}
    context = {"card": card(call), "values": values, "errors": messages, **FORM_CHOICES}
    if is_htmx(request):
        return HTMLResponse(web.fragment(template, principal.locale,
                                         csrf=getattr(request.state, "csrf_token", ""),
                                         **context), status_code=status)
    return web.page(request, "call.html", principal, status=status, **context)  # its own csrf


def _qualified(request: Request, web: Web, principal: Principal, call: DeskCall,
               done: Qualification) -> Response:
    locale = principal.locale
    if done.outcome in (Outcome.QUALIFIED, Outcome.ALREADY):
        assert done.event is not None
        key = "qualify.done" if done.outcome is Outcome.QUALIFIED else "qualify.already"
        text = web.t(locale, key, caller=readable_phone(call.caller),
                     category=web.t(locale, f"category.{done.event.category.value}"))
        if not is_htmx(request):
            return RedirectResponse(home_of(principal) or "/", status_code=303)
        return HTMLResponse(web.flash(locale, text) + removed(call.call_id))
    if done.outcome is Outcome.CONFLICT:
        assert done.event is not None
        text = web.t(locale, "qualify.conflict",
                     category=web.t(locale, f"category.{done.event.category.value}"))
        return _failed(request, web, principal, text, 409)
    return _failed(request, web, principal, web.t(locale, "error.unknown_call"), 404)


def _done(request: Request, web: Web, principal: Principal, text: str) -> Response:
    """A correction the lookup accepted: the message, and the form replaced by it."""
    if not is_htmx(request):
        return web.page(request, "message.html", principal, title=text, text=text)
    note = web.fragment("action_done.html", principal.locale, text=text)
    return HTMLResponse(note + web.flash(principal.locale, text))


def _decided(request: Request, web: Web, principal: Principal, text: str) -> Response:
    """A lead the head decided: its article goes (the form's target), the message shows."""
    if not is_htmx(request):
        return RedirectResponse("/inbox", status_code=303)
    return HTMLResponse(web.flash(principal.locale, text))


async def _inbox_refused(request: Request, web: Web, deps: Desk, principal: Principal,
                         lead_id: uuid.UUID, answer: ApiAnswer, fields: tuple[str, ...], *,
                         worded: bool = False) -> Response:
    """The assignment's refusal beside the field it names (else above the lead's forms); a
    lead no longer in the inbox leaves the page."""
    locale = principal.locale
    text = (answer.error or "") if worded else web.t(
        locale, "inbox.refused", status=answer.status, error=answer.error or "")
    if not is_htmx(request):
        return web.page(request, "message.html", principal, status=answer.status,
                        title=web.t(locale, "error.title"), text=text)
    person = _on_behalf(request)
    inbox = await service.waiting_leads(deps, person)
    row = next((r for r in inbox.rows if r.lead_id == lead_id), None)
    if row is None:
        return HTMLResponse(deleted_lead(lead_id) + web.flash(locale, text, error=True),
                            status_code=answer.status, headers={"HX-Reswap": "none"})
    where = answer.where if answer.where in fields else "form"
    html = InboxScreen(deps, web, person).lead_html(
        row, inbox.candidates.get(row.kind, []), locale,
        getattr(request.state, "csrf_token", ""), utcnow(), errors={where: text})
    return HTMLResponse(html, status_code=answer.status)


def deleted_lead(lead_id: uuid.UUID) -> str:
    return f'<div id="{lead_dom_id(lead_id)}" hx-swap-oob="delete"></div>'


def _outcome_form(request: Request, web: Web, principal: Principal, lead: MyLead,
                  form: FormData | dict, messages: dict[str, str], status: int) -> Response:
    """The outcome form again, with what the person entered and the errors beside the
    fields; without htmx, the message alone on a page."""
    if not is_htmx(request):
        return web.page(request, "message.html", principal, status=status,
                        title=web.t(principal.locale, "error.title"),
                        text="; ".join(messages.values()))
    values = {key: value for key, value in form.items() if isinstance(value, str)
              and key != "csrf_token"}
    html = web.fragment("outcome_form.html", principal.locale, lead=lead,
                        csrf=getattr(request.state, "csrf_token", ""), values=values,
                        errors=messages, currencies=FORM_CHOICES["currencies"])
    return HTMLResponse(html, status_code=status)
