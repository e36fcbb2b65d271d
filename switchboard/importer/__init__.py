"""Import of employees and clients from CRM CSV exports (`switchboard import ...`).

`reading` reads the file (encoding, delimiter, rows), `headers` maps its columns to fields,
`parsers` turns data rows into the `rows` models or the `problems` found (all pure; what a
value means and the check of each value are `shared.clientbase`'s, which the CRM API applies
too), `repository` loads the rows into PostgreSQL (asyncpg), and `command` holds the typer
commands and `run_import`, which ties them together.
"""

from switchboard.importer.command import ImportReport, import_app, run_import
from switchboard.importer.problems import FileProblem
from switchboard.importer.rows import FileKind

__all__ = ["FileProblem", "ImportReport", "FileKind", "import_app", "run_import"]
