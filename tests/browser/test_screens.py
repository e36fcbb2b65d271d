"""The people's screens in Chromium, on the real stack: each screen's main path (the
operator's card and its qualification, the head keeping and assigning from the inbox, a
negotiator recording an outcome, the dashboard's pictures), a card in two tabs at once, a
qualification reaching the head's inbox live, a change without the CSRF token refused, an
expired session, a negotiator refused the head's inbox, the Russian and the English page.

Controls are found by their accessible names (label, role and name), as a person finds
them; element ids only to pick one card or lead among others of the shared stack."""

from __future__ import annotations

import re

import asyncpg
import pytest

from services.assignment.policy import lead_id_for
from services.desk.policy import dom_id
from services.desk.sales import lead_dom_id
from tests.browser.support import WAIT, person, qualify_large_deal, ring, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def flash(page):
    return page.locator("#flash")


async def inbox_lead(page, lead_id):
    """A lead's article on the head's inbox, once it is there (live, without a reload)."""
    await page.bring_to_front()
    article = page.get_by_role("article").and_(page.locator(f"#{lead_dom_id(lead_id)}"))
    await article.wait_for(timeout=WAIT)
    return article


async def lead_in_inbox(stack, people, page_of, value: str):
    """A call the operator qualifies, in their browser, as a large deal; (the operator's page,
    the lead's id)."""
    operator = await page_of()
    await sign_in(operator, stack, people["operator"], "/operator")
    call_id = await ring(stack)
    await qualify_large_deal(operator, call_id, value)
    await flash(operator).get_by_text("итог «продажа» сохранён").wait_for()
    return operator, lead_id_for(call_id)


# ---------------------------------------------------------------------------- the operator


async def test_the_operators_card_arrives_and_is_qualified(page_of, stack, people):
    page = await page_of()
    await sign_in(page, stack, people["operator"], "/operator")
    assert await page.get_by_role("heading", name="Звонки", exact=True).is_visible()
    call_id = await ring(stack)
    card = page.get_by_role("article").and_(page.locator(f"#{dom_id(call_id)}"))
    await card.wait_for(timeout=WAIT)  # live, without a reload
    assert await card.get_by_text("Новый номер").is_visible()  # a caller not in the base
    form = card.get_by_role("form", name="Итог звонка")
    await form.get_by_role("button", name="Сохранить итог").click()  # nothing chosen
    error = form.get_by_text("Выберите тему звонка")
    await error.wait_for()  # beside the field
    await form.get_by_label("текущий заказ").check()
    await form.get_by_label("Комментарий").fill("a delivery date")
    await form.get_by_role("button", name="Сохранить итог").click()
    await flash(page).get_by_text("итог «текущий заказ» сохранён").wait_for()


async def test_a_card_in_two_tabs_at_once(context_of, stack, people):
    context = await context_of()
    first = await context.new_page()
    await sign_in(first, stack, people["operator"], "/operator")
    second = await context.new_page()  # the same person, the same session, a second tab
    await second.goto(f"{stack.desk}/operator")
    call_id = await ring(stack)
    for tab in (first, second):
        await tab.bring_to_front()
        await tab.locator(f"#{dom_id(call_id)}").wait_for(timeout=WAIT)
    await qualify_large_deal(second, call_id, "2 000 000")
    await flash(second).get_by_text("итог «продажа» сохранён").wait_for()
    # a qualified call leaves the screen: the first tab drops its card live
    await first.bring_to_front()
    await first.locator(f"#{dom_id(call_id)}").wait_for(state="detached", timeout=5_000)


async def test_a_change_without_the_csrf_token_is_refused(page_of, stack, people):
    page = await page_of()
    await sign_in(page, stack, people["operator"], "/operator")
    call_id = await ring(stack)
    await page.locator(f"#{dom_id(call_id)}").wait_for(timeout=WAIT)
    # the person's own cookie, a form posted from elsewhere: no token
    qualify = await page.request.post(f"{stack.desk}/operator/calls/{call_id}/qualification",
                                      form={"category": "spam"}, max_redirects=0)
    locale = await page.request.post(f"{stack.desk}/locale", form={"locale": "en"},
                                     max_redirects=0)
    assert (qualify.status, locale.status) == (403, 403)
    await page.reload()
    assert await page.locator("html").get_attribute("lang") == "ru"
    form = page.locator(f"#{dom_id(call_id)}").get_by_role("form", name="Итог звонка")
    await form.get_by_label("спам").check()
    await form.get_by_role("button", name="Сохранить итог").click()  # with it: saved
    await flash(page).get_by_text("итог «спам» сохранён").wait_for()


async def test_an_expired_session_goes_to_the_login_page(page_of, stack):
    operator = await person(stack.infra, department="client", role="agent", name="Anna Orlova")
    page = await page_of()
    await sign_in(page, stack, operator, "/operator")
    conn = await asyncpg.connect(stack.infra.database_url)
    try:
        await conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second' "
                           "WHERE employee_id = $1", operator.employee_id)
    finally:
        await conn.close()
    ended = page.get_by_role("alert").filter(has_text="Сеанс завершён")
    await ended.wait_for(timeout=5_000)  # the stream checks the session every second
    await ended.get_by_role("link", name="Войти снова").click()
    await page.wait_for_url("**/login")
    await page.goto(f"{stack.desk}/operator")
    await page.wait_for_url(re.compile(r"/login\?next=/operator$"))
    assert await page.get_by_role("heading", name="Вход").is_visible()


# ---------------------------------------------------------------------------- the head


async def test_a_qualification_reaches_the_inbox_live_and_the_head_keeps_and_assigns(
        page_of, stack, people):
    head = await page_of()
    await sign_in(head, stack, people["head"], "/inbox")
    await head.wait_for_timeout(300)  # the event stream connects
    _, keep = await lead_in_inbox(stack, people, page_of, "7 000 000")
    _, give = await lead_in_inbox(stack, people, page_of, "4 000 000")
    kept = await inbox_lead(head, keep)
    assert await kept.get_by_text("крупная сделка").is_visible()
    await kept.get_by_role("button", name="Оставить себе").click()
    await flash(head).get_by_text("Сделка остаётся у вас").wait_for()
    await kept.wait_for(state="detached")
    given = await inbox_lead(head, give)
    assign = given.get_by_role("form", name="Передать сделку переговорщику")
    negotiator = people["negotiator"]
    await assign.get_by_label("Кому передать").select_option(str(negotiator.employee_id))
    await assign.get_by_role("button", name="Передать", exact=True).click()
    await flash(head).get_by_text(f"Сделка передана: {negotiator.name}").wait_for()
    await given.wait_for(state="detached")


async def test_a_negotiator_is_refused_the_heads_inbox(page_of, stack, people):
    page = await page_of()
    await sign_in(page, stack, people["negotiator"], "/leads")
    nav = page.get_by_role("navigation", name="Разделы")
    assert await nav.get_by_role("link", name="Входящие").count() == 0
    answer = await page.goto(f"{stack.desk}/inbox")
    assert answer.status == 403
    assert await page.get_by_text("У вас нет доступа к этому разделу.").is_visible()


async def test_the_dashboard_draws_its_pictures(page_of, stack, people):
    page = await page_of()
    await sign_in(page, stack, people["head"], "/dashboard")
    await page.get_by_role("heading", name=re.compile("Звонки по часам")).wait_for()
    pictures = page.get_by_role("img")
    assert await pictures.count() >= 1
    await page.get_by_text("Показать числа таблицей").first.click()
    assert await page.get_by_role("table").first.is_visible()


# ---------------------------------------------------------------------------- the negotiator


async def test_the_negotiator_records_an_outcome(page_of, stack, people):
    negotiator, head = await page_of(), await page_of()
    await sign_in(negotiator, stack, people["negotiator"], "/leads")
    await sign_in(head, stack, people["head"], "/inbox")
    _, lead_id = await lead_in_inbox(stack, people, page_of, "6 000 000")
    assign = (await inbox_lead(head, lead_id)).get_by_role(
        "form", name="Передать сделку переговорщику")
    await assign.get_by_label("Кому передать").select_option(
        str(people["negotiator"].employee_id))
    await assign.get_by_role("button", name="Передать", exact=True).click()
    await flash(head).get_by_text("Сделка передана").wait_for()
    await negotiator.bring_to_front()
    mine = negotiator.locator(f"#leads-open #{lead_dom_id(lead_id, 'mine')}")
    await mine.wait_for(timeout=WAIT)  # live, without a reload
    outcome = mine.get_by_role("form", name="Итог")
    await outcome.get_by_label("выиграна").check()
    await outcome.get_by_label("Итоговая сумма").fill("5 800 000")
    await outcome.get_by_role("button", name="Записать итог").click()
    await flash(negotiator).get_by_text("Итог записан: выиграна").wait_for()
    await negotiator.locator(f"#leads-won #{lead_dom_id(lead_id, 'mine')}").wait_for()


# ---------------------------------------------------------------------------- languages


async def test_russian_by_default_and_english_by_choice(page_of, stack):
    someone = await person(stack.infra, department="client", role="agent", name="Pavel Lis")
    page = await page_of()
    await page.goto(f"{stack.desk}/login")
    assert await page.locator("html").get_attribute("lang") == "ru"
    assert await page.get_by_role("heading", name="Вход").is_visible()
    await sign_in(page, stack, someone, "/operator")
    await page.get_by_role("form", name="Язык").get_by_role("button", name="English").click()
    await page.get_by_role("heading", name="Calls", exact=True).wait_for()
    assert await page.locator("html").get_attribute("lang") == "en"
    assert await page.get_by_role("button", name="Sign out", exact=True).is_visible()
    # chosen per person: a new browser signs in to the English page
    again = await page_of()
    await sign_in(again, stack, someone, "/operator")
    await again.get_by_role("heading", name="Calls", exact=True).wait_for()
    assert await again.get_by_role("navigation", name="Sections").is_visible()
