"""`switchboard import employees|clients` against a real PostgreSQL.

The database is shared by the whole session, so every test uses random e-mails, external ids
and numbers, and compares only the rows that belong to it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from switchboard.importer import FileProblem, FileKind, import_app, run_import
from tests.support import random_id, random_phone

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def spaced(phone: str) -> str:
    """+79161234567 written as a CRM shows it: 8 (916) 123-45-67."""
    return f"8 ({phone[2:5]}) {phone[5:8]}-{phone[8:10]}-{phone[10:]}"


def random_extension() -> str:
    return str(random.randrange(100_000, 1_000_000))


def random_prefix() -> str:
    return "+7" + "".join(random.choices("0123456789", k=7))


async def dump(url: str, emails: list[str], external_ids: list[str]) -> dict[str, list]:
    """Every column of every row of the import's tables that belongs to these people."""
    conn = await asyncpg.connect(url)
    try:
        ids = "SELECT client_id FROM clients WHERE external_id = ANY($1::text[])"
        return {
            "employees": [tuple(r) for r in await conn.fetch(
                "SELECT * FROM employees WHERE email = ANY($1::text[]) ORDER BY email", emails)],
            "clients": [tuple(r) for r in await conn.fetch(
                "SELECT * FROM clients WHERE external_id = ANY($1::text[]) ORDER BY external_id",
                external_ids)],
            "client_phones": [tuple(r) for r in await conn.fetch(
                f"SELECT * FROM client_phones WHERE client_id IN ({ids}) ORDER BY phone",
                external_ids)],
            "client_number_ranges": [tuple(r) for r in await conn.fetch(
                f"SELECT * FROM client_number_ranges WHERE client_id IN ({ids}) ORDER BY prefix",
                external_ids)],
            "ownership": [tuple(r) for r in await conn.fetch(
                f"SELECT * FROM ownership WHERE client_id IN ({ids}) ORDER BY client_id",
                external_ids)],
        }
    finally:
        await conn.close()


def write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


async def test_a_crm_export_loads_and_a_second_import_changes_nothing(infra, tmp_path):
    # Given an employees file with a BOM, ';' and Russian headers and values, one row broken
    run = random_id()
    head, agent = f"head.{run}@example.ru", f"agent.{run}@example.ru"
    head_ext, head_direct = random_extension(), random_phone()
    employees = write(tmp_path / "employees.csv", (
        "ФИО;Почта;Отдел;Роль;Добавочный;Прямой номер;Нагрузка\n"
        f"Иван Петров;{head.upper()};Коммерческий отдел;Руководитель;{head_ext};"
        f"{spaced(head_direct)};3\n"
        f"Анна Смирнова;{agent};коммерческий;менеджер;;;\n"
        f"Без почты;;коммерческий;менеджер;;;\n"
    ), bom=True)
    # and a clients file with ',' and Russian headers, multi-number cells, a range, broken rows
    c1, c2, c3, c4 = (f"crm-{run}-{i}" for i in range(1, 5))
    p1, p2, p3, p4 = (random_phone() for _ in range(4))
    prefix = random_prefix()
    clients = write(tmp_path / "clients.csv", (
        "Внешний ID,Название,Сегмент,Телефоны,Ответственный,ИНН,Диапазоны номеров\n"
        f'{c1},ООО Ромашка,Крупный корпоративный,"{spaced(p1)}; {p2}\n{p3}",{head},7701234567,'
        f'"{prefix[:2]} {prefix[2:5]} {prefix[5:]}-"\n'
        f'{c2},ИП Сидоров,малый бизнес,"{p4} | not a number",nobody.{run}@example.ru,,\n'
        f"{c3},,корпоративный,,,,\n"
        f"{c4},Физлицо,физлицо,{random_phone()},{random_phone()},,,\n"
    ))
    url = infra.database_url

    # When both are imported
    staff = await run_import(employees, FileKind.EMPLOYEES, url, now=NOW)
    first = await run_import(clients, FileKind.CLIENTS, url, now=NOW)

    # Then the good rows load and the broken ones are reported where they are
    assert (staff.rows_read, staff.inserted, staff.rejected) == (3, 2, 1)
    assert [(i.line, i.column) for i in staff.issues] == [(4, "Почта")]
    assert (first.rows_read, first.inserted, first.updated, first.rejected) == (4, 2, 0, 2)
    reasons = {(i.line, i.column): i for i in first.issues}  # c1 spans lines 2 and 3
    assert reasons[(4, "Телефоны")].reason == "'not a number' is not a phone number; skipped"
    assert "no employee has the e-mail" in reasons[(4, "Ответственный")].reason
    assert reasons[(5, "Название")].reason == "name is empty"
    assert "must be in double quotes" in reasons[(6, None)].reason
    assert first.owners_set == 1 and first.phones_written == 4 and first.ranges_written == 1

    state = await dump(url, [head, agent], [c1, c2, c3, c4])
    [anna, ivan] = state["employees"]  # by e-mail: agent., head.
    assert ivan[1:8] == (head, "Иван Петров", "commercial", "head", head_ext, head_direct, 3)
    assert anna[1:8] == (agent, "Анна Смирнова", "commercial", "agent", None, None, 10)
    [romashka, sidorov] = state["clients"]
    assert romashka[1:] == (c1, "ООО Ромашка", "large_corporate", "7701234567")
    assert sidorov[1:] == (c2, "ИП Сидоров", "small_business", None)
    assert sorted((p, c) for p, c, _ in state["client_phones"]) == sorted(
        [(p1, romashka[0]), (p2, romashka[0]), (p3, romashka[0]), (p4, sidorov[0])])
    assert state["client_number_ranges"] == [(prefix, romashka[0])]
    # The owner named by e-mail owns the client from now on
    assert state["ownership"] == [(romashka[0], ivan[0], NOW, NOW)]

    # When the same files are imported again, later
    staff_again = await run_import(employees, FileKind.EMPLOYEES, url, now=NOW + timedelta(days=1))
    again = await run_import(clients, FileKind.CLIENTS, url, now=NOW + timedelta(days=1))

    # Then nothing changes, and the counts say so
    assert (staff_again.inserted, staff_again.updated, staff_again.unchanged) == (0, 0, 2)
    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 2)
    assert (again.owners_set, again.phones_written, again.ranges_written) == (0, 0, 0)
    assert await dump(url, [head, agent], [c1, c2, c3, c4]) == state


async def test_a_new_owner_and_a_number_that_moved(infra, tmp_path):
    run = random_id()
    first_owner, second_owner = f"a.{run}@example.ru", f"b.{run}@example.ru"
    write(tmp_path / "staff.csv", "email;name;department;role\n"
          f"{first_owner};A;commercial;agent\n{second_owner};B;commercial;agent\n")
    await run_import(tmp_path / "staff.csv", FileKind.EMPLOYEES, infra.database_url)
    x, y, shared_phone = f"x-{run}", f"y-{run}", random_phone()
    header = "external_id,name,segment,phones,owner_email\n"
    write(tmp_path / "one.csv", header + f"{x},X,corporate,{shared_phone},{first_owner}\n")
    await run_import(tmp_path / "one.csv", FileKind.CLIENTS, infra.database_url, now=NOW)

    # Given the number now belongs to Y, and X has another owner
    later = NOW + timedelta(days=3)
    write(tmp_path / "two.csv", header + f"{x},X renamed,corporate,,{second_owner}\n"
                                         f"{y},Y,corporate,{shared_phone},\n")
    report = await run_import(tmp_path / "two.csv", FileKind.CLIENTS, infra.database_url, now=later)

    # Then the number is reassigned and reported, and the new owner owns X since now
    assert [(m.value, m.from_external_id, m.to_external_id) for m in report.moved] == [
        (shared_phone, x, y)]
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 0)
    state = await dump(infra.database_url, [first_owner, second_owner], [x, y])
    owners = {r[1]: r[0] for r in state["employees"]}
    [x_row, y_row] = state["clients"]
    assert x_row[2] == "X renamed"
    assert [(p, c) for p, c, _ in state["client_phones"]] == [(shared_phone, y_row[0])]
    assert state["ownership"] == [(x_row[0], owners[second_owner], later, later)]

    # And the same owner again keeps `since`; the same file again changes nothing
    report = await run_import(tmp_path / "two.csv", FileKind.CLIENTS, infra.database_url,
                              now=later + timedelta(days=1))
    assert (report.inserted, report.updated, report.unchanged, report.moved) == (0, 0, 2, [])
    assert await dump(infra.database_url, [first_owner, second_owner], [x, y]) == state


async def test_an_extension_held_by_another_employee_is_not_taken(infra, tmp_path):
    run, extension = random_id(), random_extension()
    header = "email,name,department,role,extension\n"
    write(tmp_path / "one.csv", header + f"one.{run}@example.ru,One,client,agent,{extension}\n")
    write(tmp_path / "two.csv", header + f"two.{run}@example.ru,Two,client,agent,{extension}\n"
                                         f"three.{run}@example.ru,Three,client,agent,\n")
    await run_import(tmp_path / "one.csv", FileKind.EMPLOYEES, infra.database_url)
    report = await run_import(tmp_path / "two.csv", FileKind.EMPLOYEES, infra.database_url)
    assert (report.inserted, report.rejected) == (1, 1)
    [issue] = report.issues
    assert (issue.line, issue.column) == (2, "extension")
    assert f"belongs to one.{run}@example.ru" in issue.reason


async def test_an_empty_cell_keeps_the_current_value(infra, tmp_path):
    run = random_id()
    email, direct = f"keep.{run}@example.ru", random_phone()
    write(tmp_path / "full.csv", "email,name,department,role,direct_number,capacity\n"
          f"{email},Keep,client,agent,{direct},4\n")
    write(tmp_path / "partial.csv", "email,name,department,role,direct_number\n"
          f"{email},Keep Renamed,client,agent,\n")
    await run_import(tmp_path / "full.csv", FileKind.EMPLOYEES, infra.database_url)
    report = await run_import(tmp_path / "partial.csv", FileKind.EMPLOYEES, infra.database_url)
    assert (report.updated, report.unchanged) == (1, 0)
    [row] = (await dump(infra.database_url, [email], []))["employees"]
    assert (row[2], row[6], row[7]) == ("Keep Renamed", direct, 4)


def test_the_command_exit_codes(infra, tmp_path, monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", infra.database_url)
    runner = CliRunner()
    missing = runner.invoke(import_app, ["clients", str(tmp_path / "missing.csv")])
    assert missing.exit_code == 1
    no_columns = write(tmp_path / "wrong.csv", "a;b\n1;2\n")
    result = runner.invoke(import_app, ["clients", str(no_columns)])
    assert result.exit_code == 1
    good = write(tmp_path / "good.csv", "Код;Клиент;Тип\n"
                                        f"cli-{random_id()};Ромашка;корпоративный\n")
    result = runner.invoke(import_app, ["clients", str(good), "--columns", "Тип=segment",
                                        "--report", str(tmp_path / "problems.csv")])
    assert result.exit_code == 0, result.output
    assert "inserted" in result.output
    all_bad = write(tmp_path / "bad.csv", "external_id;name;segment\n;x;corporate\n")
    assert runner.invoke(import_app, ["clients", str(all_bad)]).exit_code == 2


async def test_unreadable_files_raise_before_touching_the_database(tmp_path):
    with pytest.raises(FileProblem, match="cannot read"):
        await run_import(tmp_path / "missing.csv", FileKind.CLIENTS, "postgresql://nowhere")
    with pytest.raises(FileProblem, match="required column"):
        await run_import(write(tmp_path / "x.csv", "email\n"), FileKind.EMPLOYEES,
                         "postgresql://nowhere")
