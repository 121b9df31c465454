"""资金核对 (seed 001 §4.1): a funds-platform payment export compared with the aid chain, month by month.

The export is CSV with a header row and the columns ``household_id`` (the numeric id or the Household
global ID), ``aid_type`` (an installed aid type code), ``month`` (``YYYY-MM``) and ``amount`` (yuan,
e.g. ``780.00``); other columns are ignored. Rows for the same household, aid type and month add up.

What the aid chain approves for a household, aid type and month: the monthly amount of every aid record
in force on any day of the month (no proration: aid is paid by the month), plus the one-off amount of
every record starting in that month. Each (household, aid type, month) whose paid and approved totals
differ is a discrepancy:

* ``PAID_NOT_APPROVED`` — paid, but no aid record of that type is in force that month (or no such household);
* ``APPROVED_NOT_PAID`` — approved, but not in the export;
* ``AMOUNT_MISMATCH`` — both, with different totals.

Rows that cannot be read (bad household id, month or amount; an aid type that is not installed) are
reported with their line number and left out. The comparison is set-based: one pass over the file,
one query for the aid records of the area and months, a few for the households named.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TextIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from safetynet.explain_command import _household_number as household_number
from safetynet.model import MoneyError, yuan_to_fen
from safetynet.store.models import AidRecord, Household

COLUMNS = ("household_id", "aid_type", "month", "amount")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Household ids per ``IN (…)`` query.
_CHUNK = 1000

Key = tuple[int, str, date]  # household id, aid type, first day of the month


class ExportError(ValueError):
    """An export that cannot be reconciled at all (no header, a missing column)."""


class Kind(StrEnum):
    PAID_NOT_APPROVED = "PAID_NOT_APPROVED"
    APPROVED_NOT_PAID = "APPROVED_NOT_PAID"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"


@dataclass(frozen=True)
class BadRow:
    line: int
    message: str


@dataclass
class Payments:
    """The readable rows of an export, totalled by (household, aid type, month), with their lines."""

    paid_fen: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    lines: dict[Key, list[int]] = field(default_factory=lambda: defaultdict(list))
    bad_rows: list[BadRow] = field(default_factory=list)
    rows: int = 0
    #: Readable rows left out by ``only_month`` or because their aid type is not compared.
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class Discrepancy:
    kind: Kind
    household_id: int
    aid_type: str
    month: date
    paid_fen: int
    approved_fen: int
    lines: tuple[int, ...]
    aid_record_ids: tuple[int, ...]
    note: str = ""


@dataclass
class Reconciliation:
    months: list[date]
    aid_types: list[str]
    locality_prefix: str
    rows: int
    bad_rows: list[BadRow]
    skipped: dict[str, int]
    compared: int  # (household, aid type, month) combinations compared
    paid_fen: int
    approved_fen: int
    discrepancies: list[Discrepancy]

    @property
    def clean(self) -> bool:
        return not self.discrepancies and not self.bad_rows

    def counts(self) -> dict[str, int]:
        """Discrepancies of each kind."""
        return {kind.value: sum(d.kind is kind for d in self.discrepancies) for kind in Kind}


def month_of(text: str) -> date:
    """``"2024-05"`` → ``date(2024, 5, 1)``; ValueError otherwise."""
    match = _MONTH.match(text.strip())
    if match is None:
        raise ValueError(f"month '{text}' is not YYYY-MM")
    return date(int(match[1]), int(match[2]), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def read_payments(
    file: TextIO, *, known_aid_types: Iterable[str], compared: Iterable[str], only_month: date | None
) -> Payments:
    """Read an export; rows with problems become :class:`BadRow` (line numbers count the header as 1)."""
    known, compared = set(known_aid_types), set(compared)
    reader = csv.DictReader(file)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        found = ", ".join(reader.fieldnames or ()) or "nothing"
        raise ExportError(
            f"the header must name {', '.join(COLUMNS)}; missing {', '.join(missing)} (found {found})"
        )
    payments = Payments()
    for row in reader:
        line = reader.line_num
        payments.rows += 1
        problems = []
        household = household_number((row["household_id"] or "").strip())
        if household is None:
            problems.append(f"household_id '{row['household_id']}' is not a household id")
        aid_type = (row["aid_type"] or "").strip()
        if aid_type not in known:
            problems.append(f"aid_type '{aid_type}' is not an installed aid type")
        try:
            month = month_of(row["month"] or "")
        except ValueError as exc:
            problems.append(str(exc))
        try:
            amount = yuan_to_fen(row["amount"] or "")
        except MoneyError as exc:
            problems.append(f"amount: {exc}")
        if problems:
            payments.bad_rows.append(BadRow(line, "; ".join(problems)))
        elif only_month is not None and month != only_month:
            payments.skipped["other months"] += 1
        elif aid_type not in compared:
            payments.skipped[f"aid type {aid_type} not compared"] += 1
        else:
            key = (household, aid_type, month)  # type: ignore[assignment]
            payments.paid_fen[key] += amount
            payments.lines[key].append(line)
    return payments


def reconcile(
    session: Session, payments: Payments, *, aid_types: Sequence[str], prefix: str, months: Sequence[date]
) -> Reconciliation:
    """Compare the payments with the aid chain of the households under ``prefix`` over ``months``."""
    months = sorted(set(months) | {key[2] for key in payments.paid_fen})
    localities = _localities(session, {key[0] for key in payments.paid_fen})
    outside = [
        key for key in payments.paid_fen if key[0] in localities and not localities[key[0]].startswith(prefix)
    ]
    for key in outside:
        payments.skipped["households outside the locality"] += len(payments.lines.pop(key))
        del payments.paid_fen[key]
    approved, records = _approved(session, aid_types, prefix, months)
    discrepancies = []
    keys = set(payments.paid_fen) | set(approved)
    for key in keys:
        paid, due = payments.paid_fen.get(key, 0), approved.get(key, 0)
        if paid == due:
            continue
        household, aid_type, month = key
        if key not in approved:
            kind = Kind.PAID_NOT_APPROVED
        elif key not in payments.paid_fen:
            kind = Kind.APPROVED_NOT_PAID
        else:
            kind = Kind.AMOUNT_MISMATCH
        note = "no such household" if kind is Kind.PAID_NOT_APPROVED and household not in localities else ""
        discrepancies.append(
            Discrepancy(
                kind,
                household,
                aid_type,
                month,
                paid,
                due,
                tuple(payments.lines.get(key, ())),
                tuple(records.get(key, ())),
                note,
            )
        )
    discrepancies.sort(key=lambda d: (list(Kind).index(d.kind), d.household_id, d.aid_type, d.month))
    return Reconciliation(
        months=months,
        aid_types=sorted(aid_types),
        locality_prefix=prefix,
        rows=payments.rows,
        bad_rows=payments.bad_rows,
        skipped=dict(payments.skipped),
        compared=len(keys),
        paid_fen=sum(payments.paid_fen.values()),
        approved_fen=sum(approved.values()),
        discrepancies=discrepancies,
    )


def _localities(session: Session, household_ids: set[int]) -> dict[int, str]:
    """The locality code of each of these households that exists."""
    ids, found = sorted(household_ids), {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = select(Household.id, Household.locality_code).where(Household.id.in_(chunk))
        found.update(session.execute(query).tuples().all())
    return found


def _approved(
    session: Session, aid_types: Sequence[str], prefix: str, months: Sequence[date]
) -> tuple[dict[Key, int], dict[Key, list[int]]]:
    """Approved fen and the aid records behind it, by (household, aid type, month), for every aid record
    of these types in force in any of the months (records in force but for nothing still count)."""
    approved: dict[Key, int] = defaultdict(int)
    records: dict[Key, list[int]] = defaultdict(list)
    if not months or not aid_types:
        return approved, records
    first, end = months[0], next_month(months[-1])
    rows = session.execute(
        select(
            AidRecord.id,
            AidRecord.household_id,
            AidRecord.aid_type_code,
            AidRecord.monthly_amount_fen,
            AidRecord.one_off_amount_fen,
            AidRecord.started_on,
            AidRecord.ended_on,
        )
        .join(Household, Household.id == AidRecord.household_id)
        .where(
            Household.locality_code.startswith(prefix, autoescape=True),
            AidRecord.aid_type_code.in_(list(aid_types)),
            AidRecord.started_on < end,
            or_(AidRecord.ended_on.is_(None), AidRecord.ended_on > first),
        )
    ).tuples()
    for record_id, household, aid_type, monthly, one_off, started_on, ended_on in rows:
        for month in months:
            following = next_month(month)
            if started_on >= following or (ended_on is not None and ended_on <= month):
                continue
            key = (household, aid_type, month)
            approved[key] += monthly or 0
            if one_off and started_on >= month:
                approved[key] += one_off
            records[key].append(record_id)
    return approved, records
