"""What the browser tests share: the people they seed, the calls they ring, and signing a
person in through the desk's own /login page.

The stack is the session's intake, lookup and router, with this package's own assignment
replica (it keeps nothing at once: every commercial lead waits in the head's inbox) and desk
(tests/browser/conftest.py)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from shared.access.credentials import hash_password
from tests.conftest import CONNECTORS, Endpoints
from tests.support import generic_call, random_phone, seed_employee, signed

CHROMIUM = Path("/usr/bin/chromium")
DOMAIN = "desk-browser.example"
PASSWORD = "correct horse battery staple"
WAIT = 20_000  # ms: a call's way through intake, lookup and router to the page, at most
KIND = ("large_corporate", "large")  # what a corporate caller with a large company becomes


@dataclass(frozen=True)
class Person:
    email: str
    employee_id: uuid.UUID
    name: str


@dataclass(frozen=True)
class Stack:
    desk: str
    intake: str
    infra: Endpoints


async def person(infra: Endpoints, *, department: str, role: str, name: str,
                 capacity: int = 50, locale: str = "ru") -> Person:
    """A new employee who can sign in with PASSWORD."""
    employee_id = uuid.uuid4()
    email = f"{department}.{role}.{employee_id.hex[:10]}@{DOMAIN}"
    conn = await asyncpg.connect(infra.database_url)
    try:
        await seed_employee(conn, employee_id=employee_id, email=email, department=department,
                            role=role, name=f"{name} {employee_id.hex[:4]}", capacity=capacity)
        await conn.execute("UPDATE employees SET password_hash = $2, locale = $3 "
                           "WHERE employee_id = $1", employee_id, hash_password(PASSWORD), locale)
    finally:
        await conn.close()
    return Person(email, employee_id, f"{name} {employee_id.hex[:4]}")


async def ring(stack: Stack, caller: str | None = None) -> str:
    """A signed PBX event for a call to a general line; the call's id."""
    call_id, payload = generic_call(caller or random_phone())
    async with httpx.AsyncClient(base_url=stack.intake, timeout=10) as http:
        answer = await http.post("/v1/pbx/generic", content=payload,
                                 headers=signed("test-pbx", CONNECTORS["test-pbx"], payload))
    assert answer.status_code == 202, answer.text
    return call_id


def address() -> dict[str, str]:
    """A sign-in address of its own, so the sign-in rate limit of one test meets no other."""
    return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}."
                               f"{random.randrange(1, 255)}"}


async def sign_in(page, stack: Stack, who: Person, path: str, *, email_label: str = "Эл. почта",
                  password_label: str = "Пароль", submit: str = "Войти") -> None:
    """Through the login page, as a person would; ends on `path`."""
    await page.bring_to_front()
    await page.set_extra_http_headers(address())
    await page.goto(f"{stack.desk}/login?next={path}")
    await page.get_by_label(email_label).fill(who.email)
    await page.get_by_label(password_label, exact=True).fill(PASSWORD)
    await page.get_by_role("button", name=submit).click()
    await page.wait_for_url(f"**{path}")


async def qualify_large_deal(page, call_id: str, value: str) -> None:
    """On the operator's card of the call: a large deal of a corporate client with a large
    company (the router sends it to the commercial department: the head's inbox)."""
    from services.desk.policy import dom_id

    await page.bring_to_front()
    card = page.locator(f"#{dom_id(call_id)}")
    await card.wait_for(timeout=WAIT)
    form = card.get_by_role("form", name="Итог звонка")
    await form.get_by_label("продажа").check()
    await form.get_by_label("Сумма сделки").fill(value)
    await form.get_by_label("Размер компании").select_option("large")
    await form.get_by_label("Корпоративный клиент").check()
    await form.get_by_label("Что нужно клиенту").fill("office for 40 people")
    await form.get_by_role("button", name="Сохранить итог").click()
