"""Department record files, read in chunks: JSON lines, a JSON array, or CSV with the API's column names.

* ``.jsonl`` / ``.ndjson``: one JSON object per line; blank lines are skipped. A line that is not JSON
  becomes an :class:`Unreadable` record, so it is rejected with its line number and the rest still count.
* ``.json``: a JSON array of objects (loaded whole), or JSON lines if the file does not start with ``[``.
* ``.csv``: a header row with the field names, then one record per row (values are strings; an empty
  cell is a missing value). UTF-8, with or without a byte-order mark.

Problems with the file itself (missing, not UTF-8, not a known format) raise :class:`RecordFileError`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from safetynet.fastjson import loads

CHUNK = 5_000
JSON_LINES = (".jsonl", ".ndjson")
FORMATS = (*JSON_LINES, ".json", ".csv")


class RecordFileError(ValueError):
    """A record file that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Unreadable:
    """A record that could not be read from its file (e.g. a line that is not JSON), rejected as is."""

    message: str
    record_id: str | None = None


def read_records(path: str | Path, chunk_size: int = CHUNK) -> Iterator[list[Any]]:
    """The file's records in lists of up to ``chunk_size``: dicts, or :class:`Unreadable` placeholders."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise RecordFileError(
            f"{path}: unsupported file type '{path.suffix or '(none)'}'; expected {', '.join(FORMATS)}"
        )
    try:
        with path.open(encoding="utf-8-sig", newline="" if suffix == ".csv" else None) as file:
            if suffix == ".csv":
                records: Iterator[Any] = _csv_records(path, file)
            elif suffix == ".json" and _starts_with(file, "["):
                records = _json_array(path, file)
            else:
                records = _json_lines(file)
            while chunk := list(islice(records, chunk_size)):
                yield chunk
    except OSError as exc:
        raise RecordFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RecordFileError(
            f"{path} is not UTF-8 text (byte {exc.start} of a block); save it as UTF-8 and try again"
        ) from None


def estimate_records(path: str | Path) -> int | None:
    """About how many records the file holds (its lines; for a progress bar), or None if unknown."""
    path = Path(path)
    if path.suffix.lower() not in (*JSON_LINES, ".csv"):
        return None
    lines, last = 0, b""
    try:
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                lines, last = lines + block.count(b"\n"), block[-1:]
    except OSError:
        return None
    lines += last not in (b"", b"\n")  # a last line without a newline
    return max(lines - (path.suffix.lower() == ".csv"), 0)


def _starts_with(file: Any, char: str) -> bool:
    head = file.read(1)
    while head and head.isspace():
        head = file.read(1)
    file.seek(0)
    return head == char


def _json_lines(file: Any) -> Iterator[Any]:
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            yield loads(line)
        except json.JSONDecodeError as exc:
            yield Unreadable(f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}")


def _json_array(path: Path, file: Any) -> Iterator[Any]:
    try:
        records = json.load(file)
    except json.JSONDecodeError as exc:
        raise RecordFileError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(records, list):
        raise RecordFileError(f"{path}: expected a JSON array of records, or one JSON object per line")
    yield from records


def _csv_records(path: Path, file: Any) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(file)
    try:
        if not reader.fieldnames or not any(name.strip() for name in reader.fieldnames):
            raise RecordFileError(f"{path}: the CSV file has no header row with the field names")
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
        for row in reader:
            row.pop(None, None)  # cells beyond the header
            yield row
    except csv.Error as exc:
        raise RecordFileError(f"{path} line {reader.line_num}: {exc}") from None
