"""The texts people read, in Russian and English: one JSON catalog per language
(`catalogs/ru.json`, `catalogs/en.json`), flat keys, `{name}` placeholders. Russian is the
default; each person chooses theirs (`employees.locale`).

An entry may be an object of plural forms, chosen by the `count` value: Russian `one` (1, 21,
31...), `few` (2-4, 22-24...), `many` (the rest); English `one` and `other`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"
CATALOGS = Path(__file__).parent / "catalogs"


def locale_or_default(locale: str | None) -> str:
    return locale if locale in LOCALES else DEFAULT_LOCALE


def plural_form(locale: str, count: int) -> str:
    n = abs(int(count))
    if locale == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


class Catalogs:
    def __init__(self, directory: Path = CATALOGS) -> None:
        self.entries: dict[str, dict[str, Any]] = {
            locale: json.loads((directory / f"{locale}.json").read_text(encoding="utf-8"))
            for locale in LOCALES
        }

    def has(self, key: str) -> bool:
        return key in self.entries[DEFAULT_LOCALE]

    def text(self, locale: str, key: str, /, **values: Any) -> str:
        """The text of `key` in `locale`, its placeholders filled; the key itself when no
        catalog has it (tests/unit/desk checks that none is missing)."""
        entry = self.entries[locale_or_default(locale)].get(key)
        if entry is None:
            return key
        if isinstance(entry, Mapping):
            entry = entry.get(plural_form(locale, values.get("count", 0)), "")
        try:
            return str(entry).format(**values)
        except (KeyError, IndexError, ValueError):
            return str(entry)

    def first(self, locale: str, keys: list[str], /, **values: Any) -> str | None:
        """The text of the first key a catalog has, or None."""
        for key in keys:
            if self.has(key):
                return self.text(locale, key, **values)
        return None
