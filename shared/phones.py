"""Caller numbers, normalised with `phonenumbers`. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from shared.events import CallerStatus

# Caller ids a PBX sends when the caller withholds the number.
_WITHHELD = {"", "anonymous", "restricted", "private", "unknown", "unavailable", "withheld"}
# An internal extension of our own PBX: 2 to 6 digits (what the importer, the rules file and
# PBXs accept).
EXTENSION_PATTERN = r"^\d{2,6}$"
_EXTENSION = re.compile(EXTENSION_PATTERN)


def is_extension(text: str) -> bool:
    """An internal extension (EXTENSION_PATTERN), not a phone number."""
    return _EXTENSION.match(text) is not None


@dataclass(frozen=True)
class Number:
    value: str | None  # E.164, the extension for an internal caller, None otherwise
    status: CallerStatus


def normalise(raw: str | None, region: str = "RU") -> Number:
    """Classify and normalise a caller id: `8 (916) 123-45-67` -> `+79161234567` (in RU)."""
    text = (raw or "").strip()
    if text.lower().strip("<>\"' ") in _WITHHELD:
        return Number(None, CallerStatus.WITHHELD)
    if is_extension(text):
        return Number(text, CallerStatus.INTERNAL)
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Number(None, CallerStatus.UNPARSEABLE)
    if not phonenumbers.is_possible_number(parsed):
        return Number(None, CallerStatus.UNPARSEABLE)
    return Number(
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        CallerStatus.EXTERNAL,
    )


def normalise_dialed(raw: str, region: str = "RU") -> str:
    """The dialed party: an extension stays as it is, a number becomes E.164, else raw."""
    number = normalise(raw, region)
    return number.value if number.value is not None else raw.strip()
