"""What each live page shows and how a change alters it in the browser (a `web.LivePage`).

Every message a stream sends is HTML of out-of-band swaps, so one `sse-swap` sink per page
takes them all: an article inserted at the top (or the end) of its list, replaced in place
(a card's forms are `hx-preserve`d, so what a person is typing stays), or deleted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from markupsafe import Markup

from services.desk import service
from services.desk.charts import (BarChart, Frame, IntervalChart, IntervalRow, Part, interval_chart,
                                  share_bar, stacked_bars)
from services.desk.dashboard import DESTINATIONS
from services.desk.live import (AlertRaised, CallChanged, Change, DealDone, InboxArrived,
                                LeadDecided)
from services.desk.lookup_api import OnBehalf
from services.desk.policy import (DeskCall, DeskRules, card, dom_id, on_operator_screen,
                                  on_own_line)
from services.desk.sales import (Alert, Candidate, InboxRow, LeadStatus, MyLead, Reported,
                                 about_own_client, countdown, lead_dom_id, may_close, waited,
                                 with_reported)
from services.desk.service import Desk
from services.desk.web import CSRF_SLOT, Web
from shared.access.principals import Principal
from shared.events import Category, CompanySize, Segment, utcnow

# What the card's forms offer to choose from.
FORM_CHOICES: dict[str, list[str]] = {
    "categories": [c.value for c in Category],
    "company_sizes": [s.value for s in CompanySize],
    "segments": [s.value for s in Segment],
    "currencies": ["RUB", "USD", "EUR", "CNY", "KZT"],
}


def removed(call_id: str) -> str:
    """The out-of-band swap that takes a call's card off a page."""
    return deleted(dom_id(call_id))


def deleted(element_id: str) -> str:
    """The out-of-band swap that takes an element off a page."""
    return f'<div id="{element_id}" hx-swap-oob="delete"></div>'


def inserted(html: str, target: str, where: str = "afterbegin") -> str:
    """The out-of-band swap that puts `html` at the start (or `beforeend`: the end) of the
    element `target`; what came live is marked so, for a moment of highlight."""
    arriving = html.replace('class="', 'class="arriving ', 1)
    return f'<div hx-swap-oob="{where}:#{target}">{arriving}</div>'


CallsOf = Callable[[Desk, Principal, datetime], Awaitable[list[DeskCall]]]
Visible = Callable[[Principal, DeskCall, datetime, DeskRules], bool]


class CallCards:
    """The cards of the calls a screen shows: `calls_of` draws them from the database,
    `visible` says which call a change leaves on it."""

    def __init__(self, deps: Desk, web: Web, calls_of: CallsOf, visible: Visible) -> None:
        self.deps, self.web = deps, web
        self._calls_of, self._visible = calls_of, visible

    def card_html(self, call: DeskCall, locale: str, csrf: str,
                  change: CallChanged | None = None) -> str:
        """The card, rendered once per language for every screen that shows it."""
        key = ("operator-card", locale)
        html = change.rendered.get(key) if change is not None else None
        if html is None:
            html = self.web.fragment("card.html", locale, card=card(call), csrf=CSRF_SLOT,
                                     values={}, errors={}, **FORM_CHOICES)
            if change is not None:
                change.rendered[key] = html
        return html.replace(CSRF_SLOT, csrf)

    async def cards(self, principal: Principal, csrf: str) -> tuple[list[str], set[str]]:
        calls = await self._calls_of(self.deps, principal, utcnow())
        return ([self.card_html(c, principal.locale, csrf) for c in calls],
                {c.call_id for c in calls})

    def update(self, principal: Principal, csrf: str, change: CallChanged,
               shown: set[str]) -> str | None:
        call = change.call
        if self._visible(principal, call, utcnow(), self.deps.rules):
            html = self.card_html(call, principal.locale, csrf, change)
            if call.call_id in shown:
                return html.replace("<article ", '<article hx-swap-oob="true" ', 1)
            shown.add(call.call_id)
            arriving = html.replace('class="card ', 'class="card arriving ', 1)
            return f'<div hx-swap-oob="afterbegin:#cards">{arriving}</div>'
        if call.call_id in shown:
            shown.discard(call.call_id)
            return removed(call.call_id)
        return None


class OperatorScreen(CallCards):
    """The operator's calls: a card per call ringing at their line or at the desk."""

    def __init__(self, deps: Desk, web: Web) -> None:
        super().__init__(deps, web, service.operator_calls, on_operator_screen)

    async def snapshot(self, principal: Principal, csrf: str, shown: set[str]) -> str:
        cards, ids = await self.cards(principal, csrf)
        shown.clear()
        shown.update(ids)
        return self.web.fragment("operator.html", principal.locale, block="cards_oob",
                                 cards=cards)

    def update(self, principal: Principal, csrf: str, change: Change,  # type: ignore[override]
               shown: set[str]) -> str | None:
        if not isinstance(change, CallChanged):
            return None
        return super().update(principal, csrf, change, shown)


# --- the head of sales' inbox ---------------------------------------------------------------


def alert_html(web: Web, alert: Alert, locale: str) -> str:
    return web.fragment("alert.html", locale, alert=alert)


class InboxScreen:
    """The head's inbox (the assignment's, read with the head's own session) and the
    department's shopping-around alerts. A lead leaves when anyone decides it (leads.assigned:
    kept, passed on, handed out at the deadline); a new one comes when the desk finds it in
    the database (`InboxArrived`)."""

    def __init__(self, deps: Desk, web: Web, person: OnBehalf) -> None:
        self.deps, self.web, self.person = deps, web, person
        self._titles: dict[str, str] = {}  # a shown lead's dom id -> how its row names it

    def lead_html(self, row: InboxRow, candidates: list[Candidate], locale: str, csrf: str,
                  now: datetime, *, errors: dict[str, str] | None = None) -> str:
        return self.web.fragment("inbox_lead.html", locale, row=row, candidates=candidates,
                                 csrf=csrf, countdown=countdown(row.due_at, now),
                                 waited=waited(row.arrived_at, now), errors=errors or {})

    async def draw(self, principal: Principal, csrf: str) -> dict:
        """What the page shows now: the leads' and the alerts' HTML, their ids, and the
        assignment's refusal, if it gave no inbox."""
        now = utcnow()
        inbox = await service.waiting_leads(self.deps, self.person)
        alerts = await service.department_alerts(self.deps, now)
        rows = [self.lead_html(r, inbox.candidates.get(r.kind, []), principal.locale, csrf, now)
                for r in inbox.rows]
        self._titles = {r.dom_id: self._title(r, principal.locale) for r in inbox.rows}
        return {"rows": rows, "alerts": [alert_html(self.web, a, principal.locale)
                                         for a in alerts],
                "refused": inbox.refused,
                "ids": {r.dom_id for r in inbox.rows} | {a.dom_id for a in alerts}}

    def _title(self, row: InboxRow, locale: str) -> str:
        """How the lead's article names it, as plain text (for the news line)."""
        html = self.web.fragment("inbox_lead.html", locale, block="title", row=row)
        return Markup(html.strip()).unescape()

    async def snapshot(self, principal: Principal, csrf: str, shown: set[str]) -> str:
        drawn = await self.draw(principal, csrf)
        shown.clear()
        shown.update(drawn["ids"])
        return self.web.fragment("inbox.html", principal.locale, block="live_oob", **drawn)

    async def update(self, principal: Principal, csrf: str, change: Change,
                     shown: set[str]) -> str | None:
        locale = principal.locale
        if isinstance(change, LeadDecided):
            element = lead_dom_id(change.event.lead_id)
            if element not in shown:
                return None
            shown.discard(element)
            event = change.event
            text = self.web.t(locale, f"inbox.went.{event.strategy.value}",
                              lead=self._titles.pop(element, ""), name=event.employee_name)
            return deleted(element) + self.web.fragment("inbox_news.html", locale, text=text)
        if isinstance(change, InboxArrived):
            if lead_dom_id(change.lead_id) in shown:
                return None
            return await self._arrivals(principal, csrf, shown)
        if isinstance(change, AlertRaised):
            if change.alert.dom_id in shown:
                return None
            shown.add(change.alert.dom_id)
            return inserted(alert_html(self.web, change.alert, locale), "alerts")
        return None

    async def _arrivals(self, principal: Principal, csrf: str, shown: set[str]) -> str | None:
        inbox = await service.waiting_leads(self.deps, self.person)
        now, html = utcnow(), []
        for row in inbox.rows:
            if row.dom_id in shown:
                continue
            shown.add(row.dom_id)
            self._titles[row.dom_id] = self._title(row, principal.locale)
            html.append(inserted(self.lead_html(row, inbox.candidates.get(row.kind, []),
                                                principal.locale, csrf, now),
                                 "inbox-rows", "beforeend"))
            news = self.web.t(principal.locale, "inbox.arrived_live",
                              lead=self._titles[row.dom_id])
        if not html:
            return None
        return "".join(html) + self.web.fragment("inbox_news.html", principal.locale, text=news)


# --- a person's own leads and calls ---------------------------------------------------------


class LeadsScreen:
    """A person's own work: the calls ringing at their line (the operator's card and form),
    their clients' shopping-around alerts, their leads (open, won, lost)."""

    def __init__(self, deps: Desk, web: Web) -> None:
        self.deps, self.web = deps, web
        self.calls = CallCards(deps, web, service.own_calls, on_own_line)

    def lead_html(self, lead: MyLead, principal: Principal, csrf: str, *,
                  values: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None) -> str:
        return self.web.fragment("my_lead.html", principal.locale, lead=lead, csrf=csrf,
                                 may_close=may_close(principal, lead),
                                 values=values or {}, errors=errors or {},
                                 currencies=FORM_CHOICES["currencies"])

    async def draw(self, principal: Principal, csrf: str) -> dict:
        now = utcnow()
        cards, call_ids = await self.calls.cards(principal, csrf)
        leads = await service.own_leads(self.deps, principal, now)
        alerts = await service.own_alerts(self.deps, principal, now)
        return {
            "cards": cards,
            "leads": {status.value: [self.lead_html(lead, principal, csrf) for lead in found]
                      for status, found in leads.items()},
            "alerts": [alert_html(self.web, a, principal.locale) for a in alerts],
            "ids": call_ids | {lead.dom_id for found in leads.values() for lead in found}
            | {a.dom_id for a in alerts},
        }

    async def snapshot(self, principal: Principal, csrf: str, shown: set[str]) -> str:
        drawn = await self.draw(principal, csrf)
        shown.clear()
        shown.update(drawn["ids"])
        return self.web.fragment("leads.html", principal.locale, block="live_oob", **drawn)

    async def update(self, principal: Principal, csrf: str, change: Change,
                     shown: set[str]) -> str | None:
        if isinstance(change, CallChanged):
            return self.calls.update(principal, csrf, change, shown)
        if isinstance(change, LeadDecided):
            if change.event.employee_id != principal.employee_id:
                return None
            element = lead_dom_id(change.event.lead_id, "mine")
            if element in shown:
                return None
            lead = await service.find_lead(self.deps, change.event.lead_id)
            if lead is None:
                return None
            shown.add(element)
            return inserted(self.lead_html(lead, principal, csrf), f"leads-{lead.status}")
        if isinstance(change, DealDone):
            element = lead_dom_id(change.event.lead_id, "mine")
            if element not in shown:
                return None
            lead = await service.find_lead(self.deps, change.event.lead_id)
            if lead is None:
                return None
            return self.moved(with_reported(lead, Reported.of(change.event)), principal, csrf)
        if isinstance(change, AlertRaised):
            if change.alert.dom_id in shown or not about_own_client(principal, change.alert):
                return None
            shown.add(change.alert.dom_id)
            return inserted(alert_html(self.web, change.alert, principal.locale), "alerts")
        return None

    def moved(self, lead: MyLead, principal: Principal, csrf: str) -> str:
        """A lead taken off its list and put at the top of the list of its status now (the
        same message twice leaves one)."""
        target = f"leads-{lead.status}" if lead.status is not LeadStatus.OPEN else "leads-open"
        return deleted(lead.dom_id) + inserted(self.lead_html(lead, principal, csrf), target)


# --- the dashboard ----------------------------------------------------------------------------


def dashboard_charts(view: service.Dashboard, web: Web, locale: str) -> dict[str, object]:
    """The geometry of the dashboard's pictures (charts.py), labelled in the person's
    language; the templates draw it."""
    day = "%d.%m" if locale == "ru" else "%m-%d"
    calls: BarChart = stacked_bars([f"{hour:%H}" for hour in view.calls.hours], DESTINATIONS,
                                   view.calls.by_destination, Frame(720, 240), label_every=2)
    alerts: BarChart = stacked_bars([f"{d:{day}}" for d in view.alerts.days], ["alerts"],
                                    {"alerts": view.alerts.counts}, Frame(720, 200),
                                    label_every=1)
    delays: BarChart = stacked_bars(
        [web.t(locale, f"dashboard.delay.{key}") for key, _ in view.delays.buckets], ["leads"],
        {"leads": [count for _, count in view.delays.buckets]}, Frame(720, 200))
    kept: list[Part] = share_bar(view.kept.parts, width=700, left=10)
    wins: IntervalChart = interval_chart(
        [IntervalRow(rate.name, rate.mean, rate.low, rate.high,
                     web.t(locale, "dashboard.wins.note", won=rate.record.won,
                           closed=rate.record.closed))
         for rate in view.wins.rates],
        reference=view.wins.department)
    labels = {
        "calls": {d: web.t(locale, f"destination.{d}") for d in DESTINATIONS},
        "alerts": {"alerts": web.t(locale, "dashboard.alerts.series")},
        "delays": {"leads": web.t(locale, "dashboard.delays.series")},
        "kept": {key: web.t(locale, f"strategy.{key}") for key, _ in view.kept.parts},
    }
    return {"calls": calls, "alerts": alerts, "delays": delays, "kept": kept, "wins": wins,
            "labels": labels}
