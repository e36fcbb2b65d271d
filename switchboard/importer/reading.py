"""How a CSV export is read: its encoding, its delimiter, its header and its data rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from switchboard.importer.headers import resolve_header
from switchboard.importer.problems import FileProblem, Issue
from switchboard.importer.rows import FileKind


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and its encoding: UTF-8 (a BOM is dropped), else Windows-1251.

    Russian Excel saves "CSV" as Windows-1251; a file that is not valid UTF-8 is read so.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1251"), "cp1251"
    except UnicodeDecodeError as error:
        raise FileProblem(f"the file is neither UTF-8 nor Windows-1251 text ({error})") from None


CANDIDATE_DELIMITERS = (",", ";", "\t")


def sniff_delimiter(header_line: str) -> str:
    """The delimiter is what separates the header's cells (headers hold no phone lists)."""
    counts = dict.fromkeys(CANDIDATE_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(CANDIDATE_DELIMITERS, key=lambda d: counts[d])  # ties: the first, ","
    return best if counts[best] else ","


def delimiter_option(value: str | None) -> str | None:
    """`--delimiter`: auto (None), a single character, or `tab`."""
    if value is None or value.lower() in ("", "auto"):
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}
    value = named.get(value.lower(), value)
    if len(value) != 1:
        raise FileProblem(f"--delimiter: {value!r} is not one character, 'tab' or 'auto'")
    return value


@dataclass(frozen=True)
class RawRow:
    line: int  # the line the row starts on (the header is line 1)
    cells: list[str]


class CsvSource:
    """The rows of a CSV text, with the header resolved and the position for a progress bar."""

    def __init__(self, text: str, kind: FileKind, mapping: dict[str, str] | None = None,
                 delimiter: str | None = None) -> None:
        if not text.strip():
            raise FileProblem("the file is empty: expected a header line")
        first_line = re.match(r"[^\r\n]*", text.lstrip("\ufeff"))[0]
        self.delimiter = delimiter or sniff_delimiter(first_line)
        self.size = len(text)
        self.position = 0
        self._reader = csv.reader(self._lines(io.StringIO(text, newline="")),
                                  delimiter=self.delimiter, quotechar='"', skipinitialspace=False)
        try:
            header_cells = next(self._reader)
        except csv.Error as error:
            raise FileProblem(f"line 1: the header is not valid CSV ({error})") from None
        self.header = resolve_header(header_cells, kind, mapping)

    def _lines(self, stream: io.StringIO) -> Iterator[str]:
        for line in stream:
            self.position += len(line)
            yield line

    def __iter__(self) -> Iterator[RawRow | Issue]:
        """Each data row, or an Issue for a line that is not valid CSV; blank rows are skipped."""
        last = self._reader.line_num
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Issue(last + 1, None, f"not valid CSV: {error}")
                last = self._reader.line_num
                continue
            line, last = last + 1, self._reader.line_num
            if any(c.strip() for c in cells):
                yield RawRow(line, cells)
