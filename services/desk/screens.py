"""What each live page shows and how a change alters it in the browser (a `web.LivePage`).

Every message a stream sends is HTML of out-of-band swaps, so one `sse-swap` sink per page
takes them all: a card inserted at the top of `#cards`, replaced in place (its forms are
`hx-preserve`d, so what a person is typing stays), or deleted."""

from __future__ import annotations

from services.desk import service
from services.desk.live import CallChanged
from services.desk.policy import DeskCall, card, dom_id, on_operator_screen
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


class OperatorScreen:
    """The operator's calls: a card per call ringing at their line or at the desk."""

    def __init__(self, deps: Desk, web: Web) -> None:
        self.deps, self.web = deps, web

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
        calls = await service.operator_calls(self.deps, principal, utcnow())
        return ([self.card_html(c, principal.locale, csrf) for c in calls],
                {c.call_id for c in calls})

    async def snapshot(self, principal: Principal, csrf: str, shown: set[str]) -> str:
        cards, ids = await self.cards(principal, csrf)
        shown.clear()
        shown.update(ids)
        return self.web.fragment("operator.html", principal.locale, block="cards_oob",
                                 cards=cards)

    def update(self, principal: Principal, csrf: str, change: CallChanged,
               shown: set[str]) -> str | None:
        call = change.call
        visible = on_operator_screen(principal, call, utcnow(), self.deps.rules)
        if visible:
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


def removed(call_id: str) -> str:
    """The out-of-band swap that takes a call's card off a page."""
    return f'<div id="{dom_id(call_id)}" hx-swap-oob="delete"></div>'
