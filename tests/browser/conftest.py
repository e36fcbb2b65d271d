"""The browser tests' stack and browser.

ONE Chromium per test session (Debian's, /usr/bin/chromium, driven by Playwright; `playwright
install` is never called), a new context per person (its own cookies: a person is one
browser profile), so no two people share a tab. Under CI=true a missing Chromium fails the
tests; elsewhere they are skipped, naming the script that installs it.

The desk and an assignment replica of this package's own run beside the session's intake,
lookup and router: the assignment keeps nothing at once (every commercial lead waits in the
head's inbox, for longer than these tests take), the desk checks sessions every second. The
session's assignment replica is stopped meanwhile and started again after, as
tests/integration/test_desk_head.py does."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

from switchboard.devstack import Services
from tests.browser.support import CHROMIUM, DOMAIN, KIND, Person, Stack, person
from tests.conftest import Endpoints
from tests.support import desk_and_assignment_of_our_own

INSTALL = "bash tools/install-browser.sh"


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI runs the browser tests; run `{INSTALL}` first", pytrace=False)
    pytest.skip(f"{why} (run `{INSTALL}`)")


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator:
    if not CHROMIUM.exists():
        _unavailable(f"Debian's Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[test]')")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def context_of(chromium) -> AsyncIterator:
    """A new browser profile (context) for each person of a test, closed after it."""
    opened = []

    async def open_context(locale: str = "ru-RU"):
        context = await chromium.new_context(viewport={"width": 1360, "height": 900},
                                             locale=locale)
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        await context.close()


@pytest.fixture
async def page_of(context_of):
    """A page in a new context: one person's browser with one tab."""
    async def open_page(locale: str = "ru-RU"):
        return await (await context_of(locale)).new_page()

    return open_page


@pytest.fixture(scope="package")
async def stack(infra: Endpoints, services: Services, tmp_path_factory) -> AsyncIterator[Stack]:
    async with desk_and_assignment_of_our_own(
            services, infra, tmp_path_factory.mktemp("desk-browser"), DOMAIN,
            deadline_seconds=600, poll_seconds=1) as mine:
        yield Stack(mine.running["desk"].url, services.running["intake"].url, infra)


@pytest.fixture(scope="package")
async def people(stack: Stack) -> dict[str, Person]:
    """The package's operator, head of sales and negotiator (the strongest on KIND leads)."""
    found = {
        "operator": await person(stack.infra, department="client", role="agent",
                                 name="Irina Volkova"),
        "head": await person(stack.infra, department="commercial", role="head",
                             name="Olga Sokolova"),
        "negotiator": await person(stack.infra, department="commercial", role="agent",
                                   name="Nikolai Petrov"),
    }
    conn = await asyncpg.connect(stack.infra.database_url)
    try:
        await conn.execute("INSERT INTO negotiator_records (employee_id, segment, size_class, "
                           "won, lost) VALUES ($1, $2, $3, 30, 10)",
                           found["negotiator"].employee_id, *KIND)
    finally:
        await conn.close()
    return found
