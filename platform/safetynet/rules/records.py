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
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from safetynet.identity import IdNumberError, check_id_number
from safetynet.model import DataSource, MoneyError, ParsedRecords, RecordError, Signal, yuan_to_fen

__all__ = [
    "CODE_MAX",
    "COMMON_FIELDS",
    "RECORD_ID_MAX",
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


@dataclass(frozen=True)
class Reader:
    """Reads one field's raw value (a JSON value or a CSV string) or raises :class:`FieldError`.

    ``expected`` says what the field takes, for the message about a missing value.
    """

    expected: str
    read: Callable[[Any], Any]


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

    return Reader(expected, read)


def one_of(*names: str) -> Reader:
    """One of ``names``, spelled exactly so (surrounding spaces are ignored)."""
    allowed = frozenset(names)
    expected = f"one of {', '.join(names)}"

    def read(value: Any) -> str:
        code = value.strip() if isinstance(value, str) else None
        if code not in allowed:
            raise FieldError(f"{_shown(value)} is not {expected}")
        return code

    return Reader(expected, read)


def _read_money(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise FieldError(f'{_shown(value)} is not an amount; expected an amount in yuan such as "1200.50"')
    try:
        return yuan_to_fen(value if isinstance(value, str) else str(value))
    except MoneyError as exc:
        raise FieldError(str(exc)) from None


money = Reader('an amount in yuan such as "1200.50"', _read_money)


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


iso_date = Reader("an ISO date YYYY-MM-DD such as 2024-05-01", _read_date)


def _read_id_number(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(f"{_shown(value)} is not text; expected an 18-character resident identity number")
    try:
        return check_id_number(value)
    except IdNumberError as exc:
        raise FieldError(f"{exc}; expected a valid 18-character resident identity number") from None


#: A resident identity number (GB 11643: length, digits, birth date and check digit), normalised.
id_number = Reader("an 18-character resident identity number", _read_id_number)

#: The department's id of the record: what makes re-sending it harmless.
record_id = Reader(
    f"the department's id for the record, text of at most {RECORD_ID_MAX} characters",
    text(RECORD_ID_MAX).read,
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
    with its index in the batch, its ``recordId`` when that was valid, and every problem found.
    """
    every = (*COMMON_FIELDS, *fields)
    names = ", ".join(f.name for f in every)
    readers = tuple((f.name, f.reader.read, f.required, f.reader.expected) for f in every)

    def parse(records: Sequence[Mapping[str, Any]]) -> ParsedRecords:
        signals: list[tuple[int, Signal]] = []
        rejected: list[RecordError] = []
        for index, raw in enumerate(records):
            if not isinstance(raw, Mapping):
                rejected.append(RecordError(index, None, f"record must be an object with the fields {names}"))
                continue
            row = Row()
            problems: list[str] = []
            for name, read, required, expected in readers:
                value = raw.get(name)
                if value is None or (value.__class__ is str and not value.strip()):
                    if required:
                        problems.append(f"{name}: missing; expected {expected}")
                    row[name] = None
                    continue
                try:
                    row[name] = read(value)
                except FieldError as exc:
                    problems.append(f"{name}: {exc}")
                    row[name] = None
            if not problems:
                try:
                    signals.append((index, signal(row)))
                    continue
                except FieldError as exc:
                    problems.append(str(exc))
            rejected.append(RecordError(index, row["recordId"], " | ".join(problems)))
        return ParsedRecords(signals=tuple(signals), rejected=tuple(rejected))

    return parse


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
