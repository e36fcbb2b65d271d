"""Benchmark of `switchboard import clients`: 100,000 clients, imported twice.

    SWITCHBOARD_DATABASE_URL=postgresql://... python bench/import_bench.py [--clients N]

Generates, in a temporary folder, an employees file and a clients file that references them
(1 to 3 phones per client, a number range for corporate clients, an owner for most), imports
the employees, then the clients twice: the first run inserts everything, the second must find
nothing to change. Prints seconds and rows/s of both runs. Every run uses fresh random ids and
number blocks, so it can be repeated on the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import uuid
from pathlib import Path

from shared.db import upgrade
from shared.settings import DatabaseSettings
from switchboard.importer import ImportReport, FileKind, run_import

SEGMENTS = ["individual", "small_business", "corporate", "large_corporate"]


def write_files(folder: Path, clients: int, employees: int, seed: int) -> tuple[Path, Path]:
    rng = random.Random(seed)
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
    mobile_block = f"{rng.randrange(1000):03d}"  # +7 9BBB NNNNNN: a million numbers per run
    range_block = f"{rng.randrange(1000):03d}"  # +7 8BBB NNNNN: the run's number ranges
    emails = [f"agent{i}.{run}@bench.example" for i in range(employees)]

    employees_path = folder / "employees.csv"
    with employees_path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "department", "role", "extension", "direct_number",
                         "capacity"])
        for i, email in enumerate(emails):
            writer.writerow([email, f"Agent {i}", "commercial" if i % 3 else "client",
                             "head" if i == 0 else "agent", "", "", 20])

    clients_path = folder / "clients.csv"
    phone = 0
    with clients_path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["external_id", "name", "segment", "phones", "owner_email", "tax_id",
                         "number_ranges"])
        for i in range(clients):
            segment = SEGMENTS[i % 4]
            numbers = []
            for _ in range(rng.randint(1, 3)):
                digits = f"{phone:06d}"
                numbers.append(f"+7 9{mobile_block} {digits[:2]}-{digits[2:4]}-{digits[4:]}")
                phone += 1
            ranges = f"+7 8{range_block} {i:05d}-" if segment == "large_corporate" else ""
            owner = rng.choice(emails) if rng.random() < 0.7 else ""
            writer.writerow([f"bench-{run}-{i}", f"Client {i}", segment, "; ".join(numbers),
                             owner, f"{rng.randrange(10**9, 10**10)}", ranges])
    return employees_path, clients_path


def line(title: str, report: ImportReport) -> str:
    rate = report.rows_read / report.seconds if report.seconds else 0.0
    return (f"{title:<14} {report.seconds:7.2f} s  {rate:9,.0f} rows/s   "
            f"read {report.rows_read:,}  inserted {report.inserted:,}  "
            f"updated {report.updated:,}  unchanged {report.unchanged:,}  "
            f"rejected {report.rejected:,}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    url = DatabaseSettings().url
    await upgrade(url)
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        seed = args.seed if args.seed is not None else random.randrange(2**32)
        employees_path, clients_path = write_files(Path(tmp), args.clients, args.employees, seed)
        size = clients_path.stat().st_size / 1e6
        print(f"{args.clients:,} clients ({size:.1f} MB), {args.employees} employees, "
              f"seed {seed}, database {url.split('@')[-1]}")
        staff = await run_import(employees_path, FileKind.EMPLOYEES, url)
        print(line("employees", staff))
        first = await run_import(clients_path, FileKind.CLIENTS, url)
        print(line("clients, 1st", first))
        second = await run_import(clients_path, FileKind.CLIENTS, url)
        print(line("clients, 2nd", second))
    if second.inserted or second.updated or first.inserted != args.clients:
        print("unexpected: the first run should insert all, the second change nothing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
