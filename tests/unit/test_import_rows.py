"""Parsing of the CSV files a CRM exports (switchboard.importer: reading, headers, parsers;
what a value means: shared.clientbase): pure, no database."""

import pytest

from shared.clientbase.values import normalise_prefix
from shared.events import Department, Role, Segment
from switchboard.importer.parsers import parse_text, split_list
from switchboard.importer.problems import FileProblem
from switchboard.importer.reading import decode, delimiter_option, sniff_delimiter
from switchboard.importer.rows import ClientRow, EmployeeRow, FileKind, client_id, employee_id

CLIENT_HEADER = "external_id,name,segment,phones,owner_email,tax_id,number_ranges\n"
EMPLOYEE_HEADER = "email,name,department,role,extension,direct_number,capacity\n"


def clients(text: str, **options):
    source, parsed = parse_text(text, FileKind.CLIENTS, **options)
    return source, parsed


def loaded(parsed) -> list:
    return [p.row for p in parsed if p.row is not None]


def issues(parsed) -> list:
    return [i for p in parsed for i in p.issues]


# --- the file: encoding, BOM, delimiter ------------------------------------------------------


def test_a_utf8_bom_is_dropped_and_the_first_header_still_maps():
    data = ("\ufeff" + CLIENT_HEADER + "c1,Ромашка,corporate,+7 916 111-11-11,,,\n").encode()
    text, encoding = decode(data)
    assert encoding == "utf-8" and not text.startswith("\ufeff")
    _, parsed = clients(text)
    assert loaded(parsed)[0].external_id == "c1"


def test_a_bom_left_in_the_text_does_not_hide_the_first_column():
    _, parsed = clients("\ufeff" + CLIENT_HEADER + "c1,Ромашка,corporate,,,,\n")
    assert loaded(parsed)[0].external_id == "c1"


def test_windows_1251_from_russian_excel_is_read_too():
    text, encoding = decode("Внешний ID;Название;Сегмент\nc1;Ромашка;физлицо\n".encode("cp1251"))
    assert encoding == "cp1251"
    _, parsed = clients(text)
    assert loaded(parsed)[0].name == "Ромашка"


@pytest.mark.parametrize(("header", "expected"), [
    ("email,name,role", ","),
    ("email;name;role", ";"),
    ("email\tname\trole", "\t"),
    ('"Ответственный (email, логин)";Название;Сегмент', ";"),  # a comma inside quotes
    ("email", ","),
])
def test_the_delimiter_is_sniffed_from_the_header_line(header, expected):
    assert sniff_delimiter(header) == expected


def test_semicolon_file_with_unquoted_comma_separated_phones():
    text = ("external_id;name;segment;phones\n"
            "c1;ООО Ромашка, филиал;corporate;+7 916 111-11-11, 8 (916) 222-22-22\n")
    source, parsed = clients(text)
    assert source.delimiter == ";"
    row = loaded(parsed)[0]
    assert row.name == "ООО Ромашка, филиал"
    assert row.phones == ("+79161111111", "+79162222222")


def test_comma_file_with_a_quoted_multi_number_cell():
    text = CLIENT_HEADER + 'c1,Ромашка,corporate,"+7 916 111-11-11; +7 916 222-22-22",,,\n'
    _, parsed = clients(text)
    assert loaded(parsed)[0].phones == ("+79161111111", "+79162222222")


def test_an_unquoted_list_in_a_comma_file_is_rejected_not_shifted_into_other_columns():
    text = CLIENT_HEADER + "c1,Ромашка,corporate,+7 916 111-11-11,+7 916 222-22-22,,,\n"
    _, parsed = clients(text)
    assert loaded(parsed) == []
    [issue] = issues(parsed)
    assert issue.line == 2 and issue.column is None and issue.rejected
    assert "must be in double quotes" in issue.reason


def test_the_delimiter_option_overrides_sniffing():
    text = "external_id|name|segment\nc1|Ромашка|corporate\n"
    source, parsed = clients(text, delimiter="|")
    assert source.delimiter == "|" and loaded(parsed)[0].name == "Ромашка"
    assert delimiter_option("tab") == "\t" and delimiter_option("auto") is None
    with pytest.raises(FileProblem):
        delimiter_option(";;")


@pytest.mark.parametrize("cell", [
    "+7 916 111-11-11, +7 916 222-22-22",
    "+7 916 111-11-11;+7 916 222-22-22",
    "+7 916 111-11-11 | +7 916 222-22-22",
    "+7 916 111-11-11\n+7 916 222-22-22",
    "+7 916 111-11-11\r\n\r\n+7 916 222-22-22,",
])
def test_several_numbers_in_one_cell(cell):
    assert split_list(cell) == ["+7 916 111-11-11", "+7 916 222-22-22"]


def test_line_numbers_count_the_lines_of_multi_line_cells():
    text = (CLIENT_HEADER
            + 'c1,Ромашка,corporate,"+7 916 111-11-11\n+7 916 222-22-22\n+7 916 333-33-33",,,\n'
            + "c2,,corporate,,,,\n")
    _, parsed = clients(text)
    assert len(loaded(parsed)[0].phones) == 3
    [issue] = issues(parsed)
    assert (issue.line, issue.column, issue.reason) == (5, "name", "name is empty")


def test_blank_lines_and_rows_of_empty_cells_are_skipped():
    text = CLIENT_HEADER + "\n,,,,,,\nc1,Ромашка,corporate,,,,\n\n"
    _, parsed = clients(text)
    assert [p.line for p in parsed] == [4]


# --- headers -------------------------------------------------------------------------------


def test_russian_client_headers_map_by_themselves():
    text = ("Внешний ID;Название;Сегмент;Телефоны;Ответственный (email);ИНН;Диапазоны номеров\n"
            "c1;ООО Ромашка;Крупный корпоративный;+7 916 111-11-11;Ivan@Example.RU;7701234567;"
            "+7 495 100-\n")
    _, parsed = clients(text)
    assert loaded(parsed) == [ClientRow(
        line=2, external_id="c1", name="ООО Ромашка", segment=Segment.LARGE_CORPORATE,
        tax_id="7701234567", owner_email="ivan@example.ru", phones=("+79161111111",),
        number_ranges=("+7495100",))]


def test_russian_employee_headers_and_values():
    text = ("ФИО;Почта;Отдел;Роль;Добавочный;Прямой номер;Ёмкость\n"
            "Иван Петров;ivan@example.ru;Коммерческий отдел;Руководитель;101;8 495 100-00-01;5\n"
            "Анна Смирнова;anna@example.ru;клиентский;менеджер;;;\n")
    _, parsed = parse_text(text, FileKind.EMPLOYEES)
    assert issues(parsed) == []
    assert loaded(parsed) == [
        EmployeeRow(2, "ivan@example.ru", "Иван Петров", Department.COMMERCIAL, Role.HEAD,
                    "101", "+74951000001", 5),
        EmployeeRow(3, "anna@example.ru", "Анна Смирнова", Department.CLIENT, Role.AGENT,
                    None, None, None),
    ]


def test_headers_match_whatever_the_case_yo_spacing_or_a_required_star():
    text = "  EMAIL ;Имя*;ОТДЕЛ;роль:;Емкость\nivan@example.ru;Иван;commercial;agent;3\n"
    _, parsed = parse_text(text, FileKind.EMPLOYEES)
    assert loaded(parsed)[0].capacity == 3


def test_the_columns_option_maps_headers_the_builtin_table_does_not_know():
    text = ("Код;Клиент;Тип;Номера для связи;Менеджер клиента\n"
            "c1;Ромашка;ИП;+7 916 111-11-11;a@b.ru\n")
    source, parsed = clients(
        text, columns="Номера для связи=phones, Менеджер клиента=owner_email,Тип=segment")
    row = loaded(parsed)[0]
    assert (row.segment, row.phones, row.owner_email) == (
        Segment.SMALL_BUSINESS, ("+79161111111",), "a@b.ru")
    assert source.header.ignored == ()


def test_the_columns_option_overrides_and_ignores_builtin_headers():
    text = "id;Название;Сегмент;Телефон;Код\nX;Ромашка;corporate;+7 916 111-11-11;c1\n"
    _, parsed = clients(text, columns="Код=external_id,id=-,Телефон=-")
    row = loaded(parsed)[0]
    assert (row.external_id, row.phones) == ("c1", ())


def test_unknown_columns_are_ignored_and_listed():
    source, _ = clients("external_id,name,segment,Комментарий\nc1,Ромашка,corporate,VIP\n")
    assert source.header.ignored == ("Комментарий",)


def test_several_phone_columns_feed_the_phones():
    text = ("Внешний ID;Название;Сегмент;Рабочий телефон;Мобильный телефон\n"
            "c1;Ромашка;corporate;+7 495 100-20-30;+7 916 111-11-11\n")
    _, parsed = clients(text)
    assert loaded(parsed)[0].phones == ("+74951002030", "+79161111111")


@pytest.mark.parametrize(("text", "columns", "message"), [
    ("", None, "empty"),
    ("\n\nc1,x\n", None, "empty"),
    ("name,segment\nx,corporate\n", None, "external_id"),
    ("a,b\n1,2\n", None, "external_id, name, segment"),
    ("external_id,Название,Клиент,segment\n", None, "both map to name"),
    (CLIENT_HEADER, "Телефоны=phone_numbers", "not a field of clients"),
    (CLIENT_HEADER, "Телефоны", "HEADER=FIELD"),
])
def test_a_file_that_cannot_be_imported_says_why(text, columns, message):
    with pytest.raises(FileProblem, match=message):
        clients(text, columns=columns)


# --- rows ----------------------------------------------------------------------------------


def test_broken_client_rows_are_reported_with_line_column_and_reason_and_the_rest_loads():
    text = ("Внешний ID;Название;Сегмент;Телефоны;Ответственный\n"
            "c1;Ромашка;corporate;+7 916 111-11-11;a@b.ru\n"
            ";Без кода;corporate;;\n"
            "c3;Лютик;госсектор;;\n"
            "c1;Дубль;corporate;;\n"
            "c5;Василёк;физлицо;+7 916 111-11-11, hello, 123;Иванов Иван\n"
            "c6;Астра;малый бизнес;+7 916 666-66-66;\n")
    _, parsed = clients(text)
    assert [r.external_id for r in loaded(parsed)] == ["c1", "c5", "c6"]
    found = {(i.line, i.column, i.rejected): i.reason for i in issues(parsed)}
    assert found[(3, "Внешний ID", True)] == "external id is empty"
    assert "segment 'госсектор' is not one of" in found[(4, "Сегмент", True)]
    assert found[(5, "Внешний ID", True)] == "c1 is already on line 2"
    # A bad or repeated number and a bad owner are skipped; the client still loads.
    c5 = [i for i in issues(parsed) if i.line == 6]
    assert all(not i.rejected for i in c5)
    assert [i.column for i in c5] == ["Ответственный", "Телефоны", "Телефоны", "Телефоны"]
    assert "+79161111111 is already on line 2" in c5[1].reason
    assert "'hello' is not a phone number" in c5[2].reason
    assert "'123' is not a phone number" in c5[3].reason
    c5_row = loaded(parsed)[1]
    assert (c5_row.phones, c5_row.owner_email) == ((), None)


@pytest.mark.parametrize("cell", [
    "Ivan@Example.RU", " <ivan@example.ru> ", "Иван Петров <ivan@example.ru>",
    "mailto:ivan@example.ru",
])
def test_owner_e_mail_notations(cell):
    _, parsed = clients(f'external_id,name,segment,owner_email\nc1,Ромашка,corporate,"{cell}"\n')
    assert loaded(parsed)[0].owner_email == "ivan@example.ru"


def test_a_repeated_number_in_one_cell_is_kept_once():
    text = CLIENT_HEADER + 'c1,Ромашка,corporate,"+7 916 111-11-11; 8 916 111 11 11",,,\n'
    _, parsed = clients(text)
    assert loaded(parsed)[0].phones == ("+79161111111",) and issues(parsed) == []


def test_broken_employee_rows():
    text = (EMPLOYEE_HEADER
            + "ivan@example.ru,Иван,commercial,head,101,+7 495 100-00-01,5\n"
            + "not-an-email,,sales dept,boss,1,hello,-3\n"
            + "IVAN@example.ru,Иван 2,client,agent,,,\n"
            + "anna@example.ru,Анна,client,agent,101,8 495 100-00-01,x\n")
    _, parsed = parse_text(text, FileKind.EMPLOYEES)
    assert [r.email for r in loaded(parsed)] == ["ivan@example.ru"]
    found = {(i.line, i.column): i.reason for i in issues(parsed)}
    assert found == {
        (3, "email"): "'not-an-email' is not an e-mail address",
        (3, "name"): "name is empty",
        (3, "department"): "department 'sales dept' is not client or commercial",
        (3, "role"): "role 'boss' is not agent or head",
        (3, "extension"): "extension '1' is not 2 to 6 digits",
        (3, "direct_number"): "'hello' is not a phone number",
        (3, "capacity"): "capacity -3 is negative",
        (4, "email"): "ivan@example.ru is already on line 2",
        (5, "extension"): "extension 101 is already on line 2",
        (5, "direct_number"): "+74951000001 is already on line 2",
        (5, "capacity"): "capacity 'x' is not a whole number",
    }


@pytest.mark.parametrize(("value", "segment"), [
    ("individual", Segment.INDIVIDUAL), ("Физ. лицо", Segment.INDIVIDUAL),
    ("small_business", Segment.SMALL_BUSINESS), ("Small business", Segment.SMALL_BUSINESS),
    ("МАЛЫЙ БИЗНЕС", Segment.SMALL_BUSINESS), ("корпоративный", Segment.CORPORATE),
    ("large-corporate", Segment.LARGE_CORPORATE),
    ("Крупный корпоративный", Segment.LARGE_CORPORATE),
])
def test_segment_values_in_english_and_russian(value, segment):
    _, parsed = clients(f"external_id,name,segment\nc1,Ромашка,{value}\n")
    assert loaded(parsed)[0].segment is segment


@pytest.mark.parametrize(("raw", "prefix"), [
    ("+7 495 100-", "+7495100"), ("+7 (495) 100-XX-XX", "+7495100"), ("8 495 100", "+7495100"),
    ("007 495 100", "+7495100"), ("+44 20 7946", "+44207946"),
    ("+7 495", None), ("495 100", None), ("ООО", None), ("", None),
])
def test_number_ranges_keep_plus_and_digits(raw, prefix):
    assert normalise_prefix(raw, "RU") == prefix


def test_a_bad_range_is_skipped_and_reported():
    text = CLIENT_HEADER + 'c1,Ромашка,large_corporate,,,,"+7 495 100-, +7 49"\n'
    _, parsed = clients(text)
    assert loaded(parsed)[0].number_ranges == ("+7495100",)
    [issue] = issues(parsed)
    assert (issue.line, issue.column, issue.rejected) == (2, "number_ranges", False)


def test_the_region_decides_numbers_written_without_a_country_code():
    text = CLIENT_HEADER + "c1,Ромашка,corporate,8 (701) 111-22-33,,,\n"
    _, parsed = clients(text, region="KZ")
    assert loaded(parsed)[0].phones == ("+77011112233",)


def test_ids_are_deterministic():
    assert employee_id("ivan@example.ru") == employee_id("ivan@example.ru")
    assert client_id("c1") == client_id("c1") != client_id("c2")
    _, first = clients(CLIENT_HEADER + "c1,Ромашка,corporate,,,,\n")
    _, second = clients(CLIENT_HEADER + "c1,Ромашка,corporate,,,,\n")
    assert loaded(first)[0].client_id == loaded(second)[0].client_id == client_id("c1")
