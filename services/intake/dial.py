"""Whom a PBX dials for a call: the router's decision made into each dialect's dial string.

A dial template per dialect says how a PBX dials a person, over three placeholders:
`{extension}` (the internal extension), `{number}` (the direct number, E.164) and
`{number_national}` (that number as dialed inside the default region: its national form in
digits, e.g. `84951000101` in RU; E.164 for a number of another country). The defaults suit a
standard install of each PBX; `SWITCHBOARD_INTAKE_DIAL` (JSON, dialect -> template) overrides
them, e.g. `{"asterisk": "PJSIP/{extension}@office", "kamailio": "sip:{extension}@pbx.example.com"}`.
Kamailio has no default: a SIP URI needs the host of the site's own phones.

Which target (`dial_target`):

| the router's decision | dialed first | then |
|---|---|---|
| arrived, names someone the dialect can dial | the decided target | the desk (1) |
| arrived, its target has nothing this dialect can dial (2) | the desk | - |
| none by the deadline (`routed` None) | the desk | - |

The desk is the client department's: `SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION`, and
`SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER` for dialects that dial numbers. (1) for the PBXs
whose answer can hold a second leg (FreeSWITCH, Twilio, Asterisk's hash form), and only when it
differs from the target. (2) no extension or number at all, or not the one the template needs
(Twilio dials numbers). When the desk cannot be dialed either (not configured for the
dialect), there is nothing to dial: each answer then leaves the call to the PBX's own plan.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import phonenumbers

from shared.events import CallerStatus, CallRouted
from shared.phones import normalise
from shared.settings import IntakeSettings

ROUTE_DIALECTS = ("generic", "asterisk", "kamailio", "freeswitch", "twilio", "zadarma")
PLACEHOLDERS = ("extension", "number", "number_national")

DEFAULT_TEMPLATES: dict[str, str] = {
    "generic": "{extension}",
    "asterisk": "PJSIP/{extension}",
    "freeswitch": "user/{extension}",
    "twilio": "{number}",
    "zadarma": "{extension}",
}

# An extension goes into a dial string as it is: only characters no PBX reads as a separator
# (Asterisk splits on `&` and `,`, FreeSWITCH on `,` and `|`).
_EXTENSION = re.compile(r"[0-9A-Za-z*#+._-]{1,64}")


class DialConfigError(ValueError):
    """A dial template or desk setting that cannot work; the message says which and why."""


@dataclass(frozen=True)
class Party:
    """Whom to ring: an internal extension, a direct number (E.164), or both."""

    extension: str | None = None
    number: str | None = None


@dataclass(frozen=True)
class DialTemplate:
    dialect: str
    text: str
    placeholders: frozenset[str]

    @classmethod
    def parse(cls, dialect: str, text: object) -> DialTemplate:
        if dialect not in ROUTE_DIALECTS:
            raise DialConfigError(f"unknown dialect {dialect!r} in the dial templates; known: "
                                  f"{', '.join(ROUTE_DIALECTS)}")
        if not isinstance(text, str) or not text.strip():
            raise DialConfigError(f"the {dialect} dial template must be non-empty text, "
                                  f"not {text!r}")
        try:
            pieces = list(string.Formatter().parse(text))
        except ValueError as e:  # an unmatched brace
            raise DialConfigError(f"the {dialect} dial template {text!r}: {e}; write a literal "
                                  "brace as {{ or }}") from e
        found: set[str] = set()
        for literal, field, spec, conversion in pieces:
            if field is None:
                continue
            if field not in PLACEHOLDERS:
                hint = (f"; a PBX variable is written ${{{{{field}}}}}"
                        if literal.endswith("$") else "")
                raise DialConfigError(f"the {dialect} dial template {text!r} names {{{field}}}; "
                                      f"known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
                                      f"{hint}")
            if spec or conversion:
                raise DialConfigError(f"the {dialect} dial template {text!r}: write "
                                      f"{{{field}}} with no format or conversion")
            found.add(field)
        if not found:
            raise DialConfigError(f"the {dialect} dial template {text!r} names no one: use "
                                  f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
        return cls(dialect, text, frozenset(found))

    def missing(self, values: Mapping[str, str | None]) -> list[str]:
        """The placeholders `values` cannot fill, in the template's order of names."""
        return [p for p in PLACEHOLDERS if p in self.placeholders and not values.get(p)]

    def render(self, values: Mapping[str, str | None]) -> str | None:
        """The dial string, or None when a placeholder has no value."""
        if self.missing(values):
            return None
        return self.text.format(**{p: values[p] for p in self.placeholders})


def parse_dial_templates(overrides: Mapping[str, Any] | str | None = None
                         ) -> dict[str, DialTemplate]:
    """The templates of every dialect: the defaults, then `overrides` (a mapping or its JSON
    text, dialect -> template). Raises `DialConfigError` naming the dialect and the problem."""
    if isinstance(overrides, str):
        try:
            overrides = json.loads(overrides) if overrides.strip() else {}
        except ValueError as e:
            raise DialConfigError(f"the dial templates are not JSON: {e}") from e
    if overrides is not None and not isinstance(overrides, Mapping):
        raise DialConfigError('the dial templates must be a JSON object, dialect -> template, '
                              'e.g. {"asterisk": "PJSIP/{extension}"}')
    merged = {**DEFAULT_TEMPLATES, **(overrides or {})}
    return {dialect: DialTemplate.parse(dialect, text) for dialect, text in merged.items()}


def dial_values(party: Party, region: str) -> dict[str, str | None]:
    """What each placeholder becomes for `party`; None where the party has no such thing
    (or has one that cannot be dialed: an extension with separators, a malformed number)."""
    extension = party.extension.strip() if party.extension else None
    if extension and not _EXTENSION.fullmatch(extension):
        extension = None
    number = normalise(party.number, region) if party.number else None
    e164 = number.value if number and number.status is CallerStatus.EXTERNAL else None
    return {"extension": extension, "number": e164,
            "number_national": _national(e164, region) if e164 else None}


def _national(e164: str, region: str) -> str:
    parsed = phonenumbers.parse(e164)
    if phonenumbers.region_code_for_number(parsed) != region.upper():
        return e164
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in national if ch.isdigit())


@dataclass(frozen=True)
class DialPlan:
    """How each dialect dials, and who the desk is."""

    templates: Mapping[str, DialTemplate]
    desk: Party
    region: str

    @classmethod
    def build(cls, *, templates: Mapping[str, Any] | str | None = None,
              fallback_extension: str | None = None, fallback_number: str | None = None,
              region: str = "RU") -> DialPlan:
        """Raises `DialConfigError` for a template or a desk that cannot work."""
        extension = fallback_extension.strip() if fallback_extension else None
        if extension and not _EXTENSION.fullmatch(extension):
            raise DialConfigError(f"SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION {extension!r} "
                                  "is not an extension (letters, digits, * # + . _ -)")
        number = None
        if fallback_number and fallback_number.strip():
            parsed = normalise(fallback_number, region)
            if parsed.status is not CallerStatus.EXTERNAL:
                raise DialConfigError(f"SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER "
                                      f"{fallback_number!r} is not a phone number (in {region})")
            number = parsed.value
        return cls(parse_dial_templates(templates), Party(extension or None, number), region)

    @classmethod
    def from_settings(cls, settings: IntakeSettings) -> DialPlan:
        """From `IntakeSettings`: `dial`, `route_fallback_extension`, `route_fallback_number`,
        `default_region`."""
        return cls.build(templates=settings.dial,
                         fallback_extension=settings.route_fallback_extension,
                         fallback_number=settings.route_fallback_number,
                         region=settings.default_region)

    def desk_dial(self, dialect: str) -> str | None:
        template = self.templates.get(dialect)
        return template.render(dial_values(self.desk, self.region)) if template else None

    def problems(self) -> list[str]:
        """What will leave calls of a dialect with nothing to dial: for a warning at start-up."""
        found = []
        for dialect in ROUTE_DIALECTS:
            template = self.templates.get(dialect)
            if template is None:
                found.append(f"{dialect}: no dial template; set one in SWITCHBOARD_INTAKE_DIAL")
            elif self.desk_dial(dialect) is None:
                lacking = template.missing(dial_values(self.desk, self.region))
                found.append(f"{dialect}: the desk cannot be dialed ({template.text} needs "
                             f"{_settings_for(lacking)})")
        return found


def _settings_for(placeholders: list[str]) -> str:
    names = {"extension": "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_EXTENSION",
             "number": "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER",
             "number_national": "SWITCHBOARD_INTAKE_ROUTE_FALLBACK_NUMBER"}
    return " and ".join(dict.fromkeys(names[p] for p in placeholders))


class Outcome(StrEnum):
    """What the PBX is told to dial, and why."""

    ROUTED = "routed"  # the router's decided target
    NOTHING_TO_DIAL = "nothing_to_dial"  # decided, but its target cannot be dialed: the desk
    DEADLINE = "deadline"  # no decision by the deadline: the desk


@dataclass(frozen=True)
class DialTarget:
    """What a PBX dials for one call."""

    dialect: str
    outcome: Outcome
    dial: str | None  # dialed first; None: nothing can be dialed, the PBX's own plan goes on
    desk: str | None  # dialed when `dial` fails; None when `dial` is the desk already
    reasons: tuple[str, ...]  # the router's, then ours when the desk takes the call
    routed: CallRouted | None  # the decision, None when it did not come in time

    @property
    def decided(self) -> bool:
        """The router's decision arrived in time (even when its target cannot be dialed)."""
        return self.routed is not None


def dial_target(routed: CallRouted | None, *, dialect: str, plan: DialPlan) -> DialTarget:
    """What `dialect`'s PBX dials for the decision `routed` (None: the deadline passed)."""
    template = plan.templates.get(dialect)
    desk = plan.desk_dial(dialect)
    if routed is None:
        reason = "no routing decision by the deadline: the client department's desk takes the call"
        return DialTarget(dialect, Outcome.DEADLINE, desk, None,
                          (_no_desk(reason, dialect, plan, template),), None)
    if template is None:
        reason = f"no dial template for {dialect}; set one in SWITCHBOARD_INTAKE_DIAL"
        return DialTarget(dialect, Outcome.NOTHING_TO_DIAL, None, None,
                          (*routed.reasons, reason), routed)
    values = dial_values(Party(routed.extension, routed.number), plan.region)
    target = template.render(values)
    if target is None:
        who = routed.employee_name or routed.destination.value.replace("_", " ")
        lacking = " or ".join(_spoken(template.missing(values)))
        reason = (f"{who} has no {lacking} to dial ({dialect} dials {template.text}): "
                  "the client department's desk takes the call")
        return DialTarget(dialect, Outcome.NOTHING_TO_DIAL, desk, None,
                          (*routed.reasons, _no_desk(reason, dialect, plan, template)), routed)
    return DialTarget(dialect, Outcome.ROUTED, target, desk if desk != target else None,
                      tuple(routed.reasons), routed)


def _spoken(placeholders: list[str]) -> list[str]:
    words = {"extension": "extension", "number": "number", "number_national": "number"}
    return list(dict.fromkeys(words[p] for p in placeholders))


def _no_desk(reason: str, dialect: str, plan: DialPlan, template: DialTemplate | None) -> str:
    if plan.desk_dial(dialect) is not None:
        return reason
    if template is None:
        return f"{reason}, but {dialect} has no dial template: nothing to dial"
    needs = _settings_for(template.missing(dial_values(plan.desk, plan.region)))
    return f"{reason}, but no desk is set for {dialect} ({needs}): nothing to dial"
