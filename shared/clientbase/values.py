"""What a value means: departments, roles and segments as CRMs write them, e-mail addresses,
extensions, phone numbers and number ranges, normalised. None where a value means nothing
usable; `checks` says why."""

from __future__ import annotations

import re

import phonenumbers

from shared.events import CallerStatus, Department, Role, Segment
from shared.phones import normalise


def value_key(text: str) -> str:
    """How enum values are compared: case, `ё`, spacing, `_`, `-` and `.` aside."""
    return re.sub(r"[\s_\-.]+", " ", text.casefold().replace("ё", "е")).strip()


def _values(table: dict[str, list[str]]) -> dict[str, str]:
    return {value_key(alias): value for value, aliases in table.items()
            for alias in [value, *aliases]}


DEPARTMENTS = _values({
    Department.CLIENT: ["клиентский", "клиентский отдел", "отдел по работе с клиентами",
                        "client department", "switchboard", "коммутатор"],
    Department.COMMERCIAL: ["коммерческий", "коммерческий отдел", "отдел продаж", "продажи",
                            "commercial department", "sales"],
})
# "Менеджер" in a Russian CRM is a salesperson, not a head: it maps to agent.
ROLES = _values({
    Role.AGENT: ["менеджер", "менеджер по продажам", "сотрудник", "оператор", "агент",
                 "специалист", "продавец", "переговорщик"],
    Role.HEAD: ["руководитель", "руководитель отдела", "руководитель отдела продаж",
                "начальник", "начальник отдела", "начальник отдела продаж", "роп",
                "head of sales"],
})
SEGMENTS = _values({
    Segment.INDIVIDUAL: ["физлицо", "физ лицо", "физическое лицо", "частное лицо", "частник",
                         "person", "private"],
    Segment.SMALL_BUSINESS: ["small business", "малый бизнес", "малый", "ип", "smb",
                             "индивидуальный предприниматель"],
    Segment.CORPORATE: ["corporate", "корпоративный", "корпоративный клиент", "корпорация",
                        "юрлицо", "юр лицо", "юридическое лицо", "средний бизнес"],
    Segment.LARGE_CORPORATE: ["large corporate", "крупный корпоративный",
                              "крупный корпоративный клиент", "крупный бизнес", "крупный",
                              "крупный клиент", "ключевой клиент", "enterprise"],
})


def department(text: str) -> Department | None:
    found = DEPARTMENTS.get(value_key(text))
    return Department(found) if found is not None else None


def role(text: str) -> Role | None:
    found = ROLES.get(value_key(text))
    return Role(found) if found is not None else None


def segment(text: str) -> Segment | None:
    found = SEGMENTS.get(value_key(text))
    return Segment(found) if found is not None else None


_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_EXTENSION_PREFIX = re.compile(r"^(доб|ext)\.?\s*", re.IGNORECASE)


def normalise_email(text: str) -> str | None:
    """`Ivan@Example.ru`, `<ivan@example.ru>`, `Иван Петров <ivan@example.ru>`, `mailto:...`
    -> `ivan@example.ru`; None if it is not an address."""
    if (match := re.fullmatch(r"[^<>]*<([^<>]+)>\s*", text)) is not None:
        text = match[1]
    text = text.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.lower() if _EMAIL.match(text) else None


def strip_extension(text: str) -> str | None:
    """`доб. 101`, `ext 1 01` -> `101`: the value without its `доб`/`ext` and spaces; None if
    nothing is left. Whether that is an extension is `shared.phones.is_extension`'s question."""
    return _EXTENSION_PREFIX.sub("", text).replace(" ", "") or None


def normalise_phone(text: str, region: str) -> str | None:
    """A phone number in E.164 (`8 (916) 111-11-11` -> `+79161111111` in RU); None for
    anything else, an internal extension included."""
    number = normalise(text, region)
    return number.value if number.status is CallerStatus.EXTERNAL else None


def normalise_prefix(text: str, region: str) -> str | None:
    """A number range `+7 495 100-` -> `+7495100`: '+' and digits; a national prefix
    (`8 495 100` in RU) becomes the country code. None if it is not a usable prefix."""
    raw = text.strip()
    digits = re.sub(r"\D", "", raw)
    if re.search(r"[^\d\s+\-().xX*#]", raw) or not digits:
        return None
    if raw.startswith("+"):
        pass
    elif digits.startswith("00"):
        digits = digits[2:]
    else:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
        national = metadata.national_prefix if metadata else None
        if not national or not digits.startswith(national):
            return None
        digits = str(phonenumbers.country_code_for_region(region.upper())) + digits[len(national):]
    # Shorter than 6 digits would cover a whole city or country; E.164 has at most 15 digits.
    if not 6 <= len(digits) <= 15:
        return None
    return "+" + digits
