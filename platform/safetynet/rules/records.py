"""Department records (部门数据共享) → signals: the row validation every data source shares.

Every department record has ``recordId``, ``idNumber`` and ``date`` (API.md, "Department records"). A
data source names its own fields, each with a reader, and says how a valid row becomes a
:class:`~safetynet.model.Signal`; :func:`record_source` builds the :class:`~safetynet.model.DataSource`
and its batch parser::

    from safetynet import hookimpl
    from safetynet.rules.records import Field, money, one_of, record_source

    HEATING = record_source(
        code="heating_subsidy",
        department="housing",
        fields=[Field("fuel", one_of("COAL", "GAS")), Field("amount", money)],
        signal=lambda row: row.signal("HEATING_SUBSIDY", value=row["fuel"], amount_fen=row["amount"]),
    )

    @hookimpl
    def safetynet_data_sources():
        return [HEATING]

The parser takes JSON objects and CSV rows alike: CSV values are strings, so ``"1200.50"`` and
``1200.5``, ``"3"`` and ``3`` read the same, and an empty cell counts as missing. Fields a source does
not name are ignored. A rejected row gets one :class:`~safetynet.model.RecordError` that lists every
problem, ``field: what is wrong; what is expected``, separated by ``" | "``. ``signal`` may raise
:class:`FieldError` to reject a row for a reason that involves several fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from safetynet.identity import IdNumberError, check_id_number, valid_id_numbers
from safetynet.model import (
    DataSource,
    MoneyError,
    ParsedRecords,
    RecordError,
    Signal,
    plain_yuan_to_fen,
    yuan_to_fen,
)

__all__ = [
    "CODE_MAX",
    "COMMON_FIELDS",
    "RECORD_ID_MAX",
    "UNREAD",
    "Field",
    "FieldError",
    "Reader",
    "Row",
    "id_number",
    "integer",
    "iso_date",
    "money",
    "one_of",
    "record_id",
    "record_parser",
    "record_source",
    "text",
]

RECORD_ID_MAX = 128  # signals.record_id
CODE_MAX = 64  # signals.kind and signals.value
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_DIGITS = frozenset("0123456789")


class FieldError(ValueError):
    """A value a field cannot take; the message says what is wrong and what is expected."""


#: From :attr:`Reader.read_column`: this value is for :attr:`Reader.read` to read.
UNREAD: Any = object()


@dataclass(frozen=True)
class Reader:
    """Reads one field's raw value (a JSON value or a CSV string) or raises :class:`FieldError`.

    ``expected`` says what the field takes, for the message about a missing value. ``read_column``,
    optional, reads a whole batch's values at once (e.g. vectorised): it gives each value read, or
    :data:`UNREAD` where ``read`` is to say what it is (a missing value, an error, an unusual form).
    """

    expected: str
    read: Callable[[Any], Any]
    read_column: Callable[[list[Any]], list[Any]] | None = None


@dataclass(frozen=True)
class Field:
    """A record field: its name as the department sends it, its reader, and whether it must be present."""

    name: str
    reader: Reader
    required: bool = True


class Row(dict[str, Any]):
    """A valid record's values by field name: ``recordId`` and ``idNumber`` as text, ``date`` a date,
    money in fen, missing optional fields None. :meth:`signal` makes the signal."""

    def signal(
        self,
        kind: str,
        *,
        amount_fen: int | None = None,
        value: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Signal:
        return Signal(
            record_id=self["recordId"],
            id_number=self["idNumber"],
            occurred_on=self["date"],
            kind=kind,
            amount_fen=amount_fen,
            value=value,
            values=dict(values or {}),
        )


# -- readers ---------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    shown = repr(value) if not isinstance(value, str) else f"'{value}'"
    return shown if len(shown) <= 60 else shown[:57] + "…'"


def text(max_length: int = 200) -> Reader:
    """Text (a JSON number is taken as its digits) of at most ``max_length`` characters, trimmed."""
    expected = f"text of at most {max_length} characters"

    def read(value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise FieldError(f"{_shown(value)} is not text; expected {expected}")
        value = value.strip()
        if len(value) > max_length:
            raise FieldError(f"is {len(value)} characters long; expected {expected}")
        if _CONTROL.search(value):
            raise FieldError(f"contains control characters such as NUL; expected {expected}")
        return value

    def read_column(values: list[Any]) -> list[Any]:
        texts = [v for v in values if v.__class__ is str]
        if _CONTROL.search("\n".join(texts)):  # (a line break is allowed)
            return [UNREAD] * len(values)
        return [
            v if v.__class__ is str and 0 < len(v) <= max_length and v.strip() == v else UNREAD
            for v in values
        ]

    return Reader(expected, read, read_column)


def one_of(*names: str) -> Reader:
    """One of ``names``, spelled exactly so (surrounding spaces are ignored)."""
    allowed = frozenset(names)
    expected = f"one of {', '.join(names)}"

    def read(value: Any) -> str:
        code = value.strip() if isinstance(value, str) else None
        if code not in allowed:
            raise FieldError(f"{_shown(value)} is not {expected}")
        return code

    def read_column(values: list[Any]) -> list[Any]:
        return [v if v.__class__ is str and v in allowed else UNREAD for v in values]

    return Reader(expected, read, read_column)


def _read_money(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise FieldError(f'{_shown(value)} is not an amount; expected an amount in yuan such as "1200.50"')
    try:
        return yuan_to_fen(value if isinstance(value, str) else str(value))
    except MoneyError as exc:
        raise FieldError(str(exc)) from None


def _read_amounts(values: list[Any]) -> list[Any]:
    fen = [plain_yuan_to_fen(v) if v.__class__ is str else None for v in values]
    return [UNREAD if f is None else f for f in fen]


money = Reader('an amount in yuan such as "1200.50"', _read_money, _read_amounts)


def integer(minimum: int, maximum: int) -> Reader:
    """A whole number from ``minimum`` to ``maximum``: ``3``, ``3.0`` or ``"3"``."""
    expected = f"a whole number from {minimum} to {maximum}"

    def read(value: Any) -> int:
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip() and set(value.strip()) <= _ASCII_DIGITS:
            number = int(value.strip())
        if number is None or not minimum <= number <= maximum:
            raise FieldError(f"{_shown(value)} is not {expected}")
        return number

    return Reader(expected, read)


def _read_date(value: Any) -> date:
    if type(value) is date:  # from Python callers; a datetime is not a date here
        return value
    day = value.strip() if isinstance(value, str) else ""
    if len(day) == 10 and day[4] == "-" and day[7] == "-":
        try:
            return date.fromisoformat(day)
        except ValueError:
            pass
    raise FieldError(f"{_shown(value)} is not a date; expected an ISO date YYYY-MM-DD such as 2024-05-01")


def _read_dates(values: list[Any]) -> list[Any]:
    """Each distinct text read once (a feed's records share a few dates)."""
    days: dict[str, Any] = {}
    for text in {v for v in values if v.__class__ is str}:
        try:
            days[text] = date.fromisoformat(text) if len(text) == 10 and text[4] == text[7] == "-" else UNREAD
        except ValueError:
            days[text] = UNREAD
    return [days[v] if v.__class__ is str else UNREAD for v in values]


iso_date = Reader("an ISO date YYYY-MM-DD such as 2024-05-01", _read_date, _read_dates)


def _read_id_number(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(f"{_shown(value)} is not text; expected an 18-character resident identity number")
    try:
        return check_id_number(value)
    except IdNumberError as exc:
        raise FieldError(f"{exc}; expected a valid 18-character resident identity number") from None


def _read_id_numbers(values: list[Any]) -> list[Any]:
    valid = valid_id_numbers(values).tolist()
    return [value if ok else UNREAD for value, ok in zip(values, valid, strict=True)]


#: A resident identity number (GB 11643: length, digits, birth date and check digit), normalised.
id_number = Reader("an 18-character resident identity number", _read_id_number, _read_id_numbers)

#: The department's id of the record: what makes re-sending it harmless.
record_id = replace(
    text(RECORD_ID_MAX),
    expected=f"the department's id for the record, text of at most {RECORD_ID_MAX} characters",
)

#: The fields every department record has, read before the source's own.
COMMON_FIELDS: tuple[Field, ...] = (
    Field("recordId", record_id),
    Field("idNumber", id_number),
    Field("date", iso_date),
)


# -- the batch parser ------------------------------------------------------------------------------


def record_parser(
    fields: Iterable[Field], signal: Callable[[Row], Signal]
) -> Callable[[Sequence[Mapping[str, Any]]], ParsedRecords]:
    """A batch parser over rows with :data:`COMMON_FIELDS` followed by ``fields``.

    Each valid row becomes ``signal(row)``; each invalid one a :class:`~safetynet.model.RecordError`
    with its index in the batch, its ``recordId`` when that was valid, and every problem found. The
    batch is read field by field (a column at a time), then row by row.
    """
    every = (*COMMON_FIELDS, *fields)
    names = tuple(f.name for f in every)
    listed = ", ".join(names)

    def parse(records: Sequence[Mapping[str, Any]]) -> ParsedRecords:
        signals: list[tuple[int, Signal]] = []
        rejected: list[RecordError] = []
        problems: dict[int, list[str]] = {}
        rows = [raw if isinstance(raw, Mapping) else {} for raw in records]
        columns = [_read_column(field, [row.get(field.name) for row in rows], problems) for field in every]
        for index, raw in enumerate(records):
            if not isinstance(raw, Mapping):
                problems[index] = [f"record must be an object with the fields {listed}"]
        for index, values in enumerate(zip(*columns, strict=True)):
            row = Row(zip(names, values, strict=True))
            found = problems.get(index)
            if found is None:
                try:
                    signals.append((index, signal(row)))
                    continue
                except FieldError as exc:
                    found = [str(exc)]
            rejected.append(RecordError(index, row.get("recordId"), " | ".join(found)))
        return ParsedRecords(signals=tuple(signals), rejected=tuple(rejected))

    return parse


def _read_column(field: Field, raw: list[Any], problems: dict[int, list[str]]) -> list[Any]:
    """One field's values read (None where missing or wrong), each problem added to its row's."""
    reader = field.reader
    values = reader.read_column(raw) if reader.read_column is not None else [UNREAD] * len(raw)
    read, name = reader.read, field.name
    for index, value in enumerate(values):
        if value is not UNREAD:
            continue
        value = raw[index]
        if value is None or (value.__class__ is str and not value.strip()):
            values[index] = None
            if field.required:
                problems.setdefault(index, []).append(f"{name}: missing; expected {reader.expected}")
            continue
        try:
            values[index] = read(value)
        except FieldError as exc:
            values[index] = None
            problems.setdefault(index, []).append(f"{name}: {exc}")
    return values


def record_source(
    *, code: str, department: str, fields: Sequence[Field], signal: Callable[[Row], Signal]
) -> DataSource:
    """A :class:`~safetynet.model.DataSource` whose records are :data:`COMMON_FIELDS` plus ``fields``."""
    return DataSource(
        code=code,
        department=department,
        fields=tuple(f.name for f in (*COMMON_FIELDS, *fields)),
        parse=record_parser(fields, signal),
    )
