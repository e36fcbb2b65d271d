"""The checks of each field of an employee and of a client, and their messages: what the CSV
import reports beside a row's column and what the CRM API answers (422, with the field).

A check takes the value as written (stripped of surrounding spaces) and returns what the
client base stores, or raises `Invalid` whose text is the message. A check of an optional
field returns None for an empty value: "not given"."""

from __future__ import annotations

from shared.clientbase import values
from shared.events import Department, Role, Segment
from shared.phones import is_extension


MAX_CAPACITY = 2**31 - 1  # what the schema's integer column holds


class Invalid(ValueError):
    """A value the client base cannot take; `str(error)` says why, in the user's words."""


# --- both ------------------------------------------------------------------------------------


def name(text: str) -> str:
    text = text.strip()
    if not text:
        raise Invalid("name is empty")
    return text


def phone(text: str, region: str) -> str:
    """A client's number or an employee's direct number, in E.164."""
    number = values.normalise_phone(text, region)
    if number is None:
        raise Invalid(f"{text!r} is not a phone number")
    return number


# --- employees -------------------------------------------------------------------------------


def email(text: str) -> str:
    """An employee's e-mail: what identifies them (`stable_id("employee", email)`)."""
    text = text.strip()
    if not text:
        raise Invalid("e-mail is empty")
    address = values.normalise_email(text)
    if address is None:
        raise Invalid(f"{text!r} is not an e-mail address")
    return address


def department(text: str) -> Department:
    text = text.strip()
    found = values.department(text)
    if found is None:
        raise Invalid(f"department {text!r} is not client or commercial"
                      if text else "department is empty")
    return found


def role(text: str) -> Role:
    text = text.strip()
    found = values.role(text)
    if found is None:
        raise Invalid(f"role {text!r} is not agent or head" if text else "role is empty")
    return found


def extension(text: str) -> str | None:
    """An internal extension (`shared.phones.EXTENSION_PATTERN`); `доб. 101` is 101."""
    text = text.strip()
    found = values.strip_extension(text)
    if found is None:
        return None
    if not is_extension(found):
        raise Invalid(f"extension {text!r} is not 2 to 6 digits")
    return found


def direct_number(text: str, region: str) -> str | None:
    text = text.strip()
    return phone(text, region) if text else None


def capacity(given: str | int) -> int | None:
    """How many leads the employee works at once: a whole number, not negative."""
    if isinstance(given, str):
        text = given.strip()
        if not text:
            return None
        try:
            given = int(text.replace(" ", ""))
        except ValueError:
            raise Invalid(f"capacity {text!r} is not a whole number") from None
    if given < 0:
        raise Invalid(f"capacity {given} is negative")
    if given > MAX_CAPACITY:
        raise Invalid(f"capacity {given} is more than {MAX_CAPACITY}")
    return given


def held_by(value: str, holder: str) -> str:
    """An extension or direct number that another employee holds is not taken from them."""
    return f"{value} belongs to {holder}; free it there first"


# --- clients ---------------------------------------------------------------------------------


def external_id(text: str) -> str:
    """The CRM's id of the client: what identifies it (`stable_id("client", external_id)`)."""
    text = text.strip()
    if not text:
        raise Invalid("external id is empty")
    return text


def segment(text: str) -> Segment:
    text = text.strip()
    found = values.segment(text)
    if found is None:
        raise Invalid(f"segment {text!r} is not one of {', '.join(s.value for s in Segment)}"
                      if text else "segment is empty")
    return found


def tax_id(text: str) -> str | None:
    return text.strip() or None


def owner_email(text: str) -> str | None:
    """The e-mail of the employee who owns the client."""
    text = text.strip()
    if not text:
        return None
    address = values.normalise_email(text)
    if address is None:
        raise Invalid(f"owner {text!r} is not an e-mail address")
    return address


def no_such_employee(address: str) -> str:
    """An owner's e-mail that names nobody in the client base."""
    return f"no employee has the e-mail {address}"


def number_range(text: str, region: str) -> str:
    """A prefix that covers a company's whole PBX range: `+7 495 100-` is +7495100."""
    prefix = values.normalise_prefix(text, region)
    if prefix is None:
        raise Invalid(f"{text!r} is not a number prefix like '+7 495 100-' (6 to 15 digits)")
    return prefix
