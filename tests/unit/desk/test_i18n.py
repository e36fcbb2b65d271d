"""Every text a person reads exists in Russian and English, with the same placeholders, and
the form's errors read in the person's language."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.desk.dashboard import DELAY_BUCKETS, DESTINATIONS
from services.desk.i18n import LOCALES, Catalogs, plural_form
from services.desk.policy import CardState, FieldError, Shift, verdict_from_form
from services.desk.sales import Availability, LeadStatus, outcome_from_form
from services.desk.web import NAV, Web
from shared.events import (Category, CompanySize, Department, Destination, Segment, SizeClass,
                           Strategy)

DESK = Path(__file__).resolve().parents[3] / "services" / "desk"
CATALOGS = Catalogs()
PLURAL_FORMS = {"ru": {"one", "few", "many"}, "en": {"one", "other"}}


def placeholders(entry) -> set[str]:
    texts = entry.values() if isinstance(entry, dict) else [entry]
    return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogs_have_the_same_keys():
    ru, en = (set(CATALOGS.entries[locale]) for locale in LOCALES)
    assert ru - en == set(), "only in Russian"
    assert en - ru == set(), "only in English"


@pytest.mark.parametrize("key", sorted(CATALOGS.entries["ru"]))
def test_each_text_has_the_same_placeholders_in_both_languages(key):
    ru, en = CATALOGS.entries["ru"][key], CATALOGS.entries["en"][key]
    assert placeholders(ru) == placeholders(en)
    for locale, entry in (("ru", ru), ("en", en)):
        if isinstance(entry, dict):
            assert set(entry) == PLURAL_FORMS[locale], f"{key} in {locale}"
        assert entry, f"{key} is empty in {locale}"


def _template_keys() -> set[str]:
    keys = set()
    for path in (DESK / "templates").glob("*.html"):
        # `t("segment." ~ value)` names a key by its value: checked by value below
        keys |= {key for key in re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""",
                                            path.read_text()) if not key.endswith(".")}
    return keys


def _python_keys() -> set[str]:
    """String literals of the desk's modules that look like catalog keys."""
    prefixes = {key.split(".")[0] for key in CATALOGS.entries["ru"]}
    keys = set()
    for path in DESK.glob("*.py"):
        tree = ast.parse(path.read_text())
        # the audit log's actions (`session.close`) are no texts
        actions = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                   and getattr(node.func, "attr", None) == "audit" for arg in node.args}
        for node in ast.walk(tree):
            if id(node) in actions:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(
                    r"[a-z_]+\.[a-z_]+(\.[a-z_]+)?", node.value) \
                    and node.value.split(".")[0] in prefixes and not node.value.endswith(".html"):
                keys.add(node.value)
    return keys


def test_every_key_the_pages_use_is_in_the_catalogs():
    used = _template_keys() | _python_keys() | {item.label for item in NAV}
    assert used, "no keys found: the scan is broken"
    missing = sorted(key for key in used if not CATALOGS.has(key))
    assert not missing


@pytest.mark.parametrize("prefix, values", [
    ("category", Category), ("segment", Segment), ("department", Department),
    ("destination", Destination), ("company_size", CompanySize), ("card.state", CardState),
    ("locale", LOCALES), ("destination", DESTINATIONS), ("strategy", Strategy),
    ("inbox.went", Strategy), ("size_class", SizeClass), ("availability", Availability),
    ("lead.status", LeadStatus), ("leads.group", LeadStatus), ("leads.none", LeadStatus),
    ("dashboard.delay", [key for key, _, _ in DELAY_BUCKETS]),
])
def test_every_value_shown_by_its_name_has_a_text(prefix, values):
    missing = [v for v in values if not CATALOGS.has(f"{prefix}.{getattr(v, 'value', v)}")]
    assert not missing


def test_the_owners_shift_states_the_card_names_exist():
    assert {s.value for s in Shift} == {"on_shift", "unavailable", "unknown"}
    for key in ("card.owner_on_shift", "card.owner_off_shift", "card.owner_on_leave",
                "card.owner_left"):
        assert CATALOGS.has(key)


@pytest.mark.parametrize("locale, counts", [
    ("ru", {1: "one", 21: "one", 2: "few", 24: "few", 5: "many", 11: "many", 12: "many",
            111: "many", 0: "many"}),
    ("en", {1: "one", 0: "other", 2: "other", 21: "other"}),
])
def test_plural_forms(locale, counts):
    assert {n: plural_form(locale, n) for n in counts} == counts


def test_texts_fill_their_placeholders_and_choose_the_plural():
    assert CATALOGS.text("ru", "card.leads_count", count=3) == "3 сделки"
    assert CATALOGS.text("en", "card.leads_count", count=1) == "1 lead"
    assert CATALOGS.text("en", "home.title", name="Olga") == "Hello, Olga"
    assert CATALOGS.text("de", "login.submit") == "Войти"  # an unknown locale: Russian
    assert CATALOGS.text("ru", "no.such.key") == "no.such.key"


WEB = Web(catalogs=CATALOGS, zone=ZoneInfo("Europe/Moscow"))


def form_errors(locale: str, form: dict[str, str]) -> dict[str, str]:
    problems = verdict_from_form(form)
    assert isinstance(problems, list)
    return {p.field: WEB.field_error(locale, p) for p in problems}


def test_the_forms_errors_in_russian_and_english():
    form = {"deal_value": "-3", "currency": "rb", "product": "x" * 201}
    assert form_errors("ru", form) == {
        "category": "Выберите тему звонка",
        "deal_value": "Не меньше 0",
        "currency": "Три заглавные латинские буквы, код ISO 4217 (RUB, USD, EUR)",
        "product": "Не больше 200 символов",
    }
    assert form_errors("en", form) == {
        "category": "Choose what the call is about",
        "deal_value": "At least 0",
        "currency": "Three capital letters, an ISO 4217 code (RUB, USD, EUR)",
        "product": "At most 200 characters",
    }
    assert form_errors("ru", {"category": "commercial", "deal_value": "много"}) == {
        "deal_value": "Введите число, например 1500000"}


def test_an_error_without_a_text_reads_as_pydantic_words():
    error = FieldError("deal_value", "some_new_type", {}, "Input is odd")
    assert WEB.field_error("ru", error) == "Input is odd"


def test_the_outcome_forms_errors_in_russian_and_english():
    def errors(locale: str, form: dict[str, str]) -> dict[str, str]:
        problems = outcome_from_form(form)
        assert isinstance(problems, list)
        return {p.field: WEB.field_error(locale, p) for p in problems}

    assert errors("ru", {"final_value": "-1"}) == {
        "outcome": "Выберите: выиграна или проиграна", "final_value": "Не меньше 0"}
    assert errors("en", {"outcome": "won"}) == {"final_value": "Enter the value of the deal won"}
    assert errors("en", {"outcome": "won", "final_value": "1", "currency": ""}) == {
        "currency": "Enter the currency of the value"}
