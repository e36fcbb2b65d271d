"""Import of employees and clients from CRM CSV exports (`switchboard import ...`).

`rows` parses and validates (pure), `repository` loads into PostgreSQL (asyncpg),
`command` holds the typer commands and `run_import`, which ties the two together.
"""

from switchboard.importer.command import ImportReport, import_app, run_import
from switchboard.importer.rows import FileProblem, Kind

__all__ = ["FileProblem", "ImportReport", "Kind", "import_app", "run_import"]
