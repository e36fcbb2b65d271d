"""The checks of the client base's fields (shared.clientbase): what each value becomes, what is
said of a bad one, and that the CSV import and the CRM API say the same words."""

from __future__ import annotations

import pytest

from services.lookup.changes import Refusal, client_record, employee_record
from shared.clientbase import checks
from shared.clientbase.checks import Invalid
from shared.events import Department, Role, Segment
from switchboard.importer.parsers import parse_text
from switchboard.importer.rows import FileKind

EMPLOYEE_HEADER = "email,name,department,role,extension,direct_number,capacity\n"
CLIENT_HEADER = "external_id,name,segment,phones,owner_email,tax_id,number_ranges\n"


@pytest.mark.parametrize(("check", "text", "value"), [
    (checks.name, "  ООО Ромашка ", "ООО Ромашка"),
    (checks.email, "Иван Петров <Ivan@Example.RU>", "ivan@example.ru"),
    (checks.department, "Коммерческий отдел", Department.COMMERCIAL),
    (checks.role, "РОП", Role.HEAD),
    (checks.extension, "доб. 101", "101"),
    (checks.extension, "", None),
    (checks.capacity, "1 000", 1000),
    (checks.capacity, 7, 7),
    (checks.capacity, " ", None),
    (checks.external_id, " crm-1 ", "crm-1"),
    (checks.segment, "Крупный корпоративный", Segment.LARGE_CORPORATE),
    (checks.tax_id, " ", None),
    (checks.owner_email, "mailto:Anna@Example.ru", "anna@example.ru"),
    (checks.owner_email, "", None),
])
def test_what_a_value_becomes(check, text, value):
    assert check(text) == value


@pytest.mark.parametrize(("check", "text", "message"), [
    (checks.name, " ", "name is empty"),
    (checks.email, "", "e-mail is empty"),
    (checks.email, "not-an-email", "'not-an-email' is not an e-mail address"),
    (checks.department, "sales dept", "department 'sales dept' is not client or commercial"),
    (checks.department, "", "department is empty"),
    (checks.role, "boss", "role 'boss' is not agent or head"),
    (checks.role, "", "role is empty"),
    (checks.extension, "1", "extension '1' is not 2 to 6 digits"),
    (checks.capacity, "x", "capacity 'x' is not a whole number"),
    (checks.capacity, -3, "capacity -3 is negative"),
    (checks.capacity, "3000000000", "capacity 3000000000 is more than 2147483647"),
    (checks.external_id, "", "external id is empty"),
    (checks.segment, "", "segment is empty"),
    (checks.segment, "госсектор",
     "segment 'госсектор' is not one of individual, small_business, corporate, large_corporate"),
    (checks.owner_email, "Иванов Иван", "owner 'Иванов Иван' is not an e-mail address"),
])
def test_what_is_said_of_a_bad_value(check, text, message):
    with pytest.raises(Invalid) as refused:
        check(text)
    assert str(refused.value) == message


def test_numbers_and_ranges_in_the_region():
    assert checks.phone("8 (916) 111-11-11", "RU") == "+79161111111"
    assert checks.phone("8 (701) 111-22-33", "KZ") == "+77011112233"
    assert checks.direct_number(" ", "RU") is None
    assert checks.number_range("8 495 100", "RU") == "+7495100"
    with pytest.raises(Invalid, match="^'101' is not a phone number$"):
        checks.phone("101", "RU")  # an extension is not an outside number
    with pytest.raises(Invalid, match=r"^'\+7 49' is not a number prefix like "):
        checks.number_range("+7 49", "RU")


def _import_reasons(kind: FileKind, header: str, row: str) -> dict[str, str]:
    _, parsed = parse_text(header + row, kind)
    return {issue.column: issue.reason for p in parsed for issue in p.issues}


def _api_refusal(make, *args, **kw) -> tuple[str, str]:
    with pytest.raises(Refusal) as refused:
        make(*args, region="RU", **kw)
    return refused.value.where, refused.value.reason


@pytest.mark.parametrize(("column", "cell", "fields"), [
    ("email", "not-an-email", {"email": "not-an-email"}),
    ("name", "", {"name": ""}),
    ("department", "sales dept", {"department": "sales dept"}),
    ("role", "boss", {"role": "boss"}),
    ("extension", "1", {"extension": "1"}),
    ("direct_number", "hello", {"direct_number": "hello"}),
    ("capacity", "-3", {"capacity": "-3"}),
    ("capacity", "x", {"capacity": "x"}),
])
def test_an_employee_is_told_the_same_by_the_import_and_the_api(column, cell, fields):
    row = {"email": "ivan@example.ru", "name": "Иван", "department": "commercial",
           "role": "agent", "extension": "", "direct_number": "", "capacity": ""}
    row[column] = cell
    imported = _import_reasons(FileKind.EMPLOYEES, EMPLOYEE_HEADER, ",".join(row.values()) + "\n")
    given = {"email": "ivan@example.ru", "name": "Иван", "department": "commercial",
             "role": "agent", **fields}
    email = given.pop("email")
    assert _api_refusal(employee_record, email, **given) == (column, imported[column])


@pytest.mark.parametrize(("column", "cell", "where", "suffix"), [
    ("external_id", "", "external_id", ""),
    ("name", "", "name", ""),
    ("segment", "госсектор", "segment", ""),
    ("phones", "hello", "phones.0", "; skipped"),
    ("number_ranges", "+7 49", "number_ranges.0", "; skipped"),
    ("owner_email", "Иванов Иван", "owner_email", "; no owner set"),
])
def test_a_client_is_told_the_same_by_the_import_and_the_api(column, cell, where, suffix):
    row = {"external_id": "c1", "name": "Ромашка", "segment": "corporate", "phones": "",
           "owner_email": "", "tax_id": "", "number_ranges": ""}
    row[column] = cell
    imported = _import_reasons(FileKind.CLIENTS, CLIENT_HEADER, ",".join(row.values()) + "\n")
    given: dict = {"name": row["name"], "segment": row["segment"]}
    if column in ("phones",):
        given["phones"] = [(cell, None)]
    elif column == "number_ranges":
        given["number_ranges"] = [cell]
    elif column != "external_id":
        given[column] = cell
    external_id = row["external_id"]
    found_where, reason = _api_refusal(client_record, external_id, **given)
    assert found_where == where
    assert imported[column] == reason + suffix
