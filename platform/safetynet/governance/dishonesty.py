"""失信记录 and 追回 (seed 001 §4.2, 000 §16, 003 §7): aid obtained by fraud, and its recovery.

Whoever obtained aid by false declaration, concealment or deceit (虚报、隐瞒、欺骗) is recorded as
dishonest, with the amount to recover, the aid records concerned, the date and the deciding unit. The
record follows the person's identity number everywhere: any household with that person as a member is
flagged, in every locality ("一处失信、他处受限"). The seeds set no expiry and no clearing, so a record
stays in force; recovering the money does not erase it. Recoveries are recorded as they come in and
may not exceed what is to be recovered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safetynet.errors import Problems, fail
from safetynet.households import Reader
from safetynet.identity import IdentityVault
from safetynet.model import format_yuan
from safetynet.principals import Principal
from safetynet.rules import LocalityRegistry
from safetynet.store.models import AidRecord, DishonestyAidRecord, DishonestyRecord, Household, Recovery
from safetynet.store.scope import visible_households

from .people import check_writer, protected_id_number, read_locality, visible_in_register


def record_dishonesty(
    session: Session,
    data: Mapping[str, Any],
    *,
    principal: Principal,
    localities: LocalityRegistry,
    vault: IdentityVault,
    today: date,
) -> DishonestyRecord:
    """Record a person's fraud. ``aid_record_ids`` are aid records the principal may see (decoded ids)."""
    check_writer(principal, "record dishonesty", "localityCode")
    problems = Problems()
    read = Reader(problems)
    identity = protected_id_number(data.get("id_number"), "idNumber", vault, today, problems)
    person_name = read.text(data.get("person_name"), ("person_name",), limit=100)
    facts = read.text(data.get("facts"), ("facts",), limit=4000)
    amount = read.money(data.get("amount_to_recover"), ("amount_to_recover",))
    decided_on: date = data["decided_on"]
    if decided_on > today:
        problems.add(("decided_on",), f"is after today ({today})", "INVALID_DATE")
    deciding_unit = read.text(data.get("deciding_unit"), ("deciding_unit",), limit=200)
    locality = read_locality(data.get("locality_code"), "localityCode", localities, principal, problems)
    aid_record_ids = _visible_aid_records(session, principal, data.get("aid_record_ids") or (), problems)
    problems.raise_if_any()
    row = DishonestyRecord(
        **identity,
        person_name=person_name,
        facts=facts,
        amount_to_recover_fen=amount,
        decided_on=decided_on,
        deciding_unit=deciding_unit,
        locality_code=locality,
        recorded_at=datetime.now(UTC),
        recorded_by=principal.key_id,
        aid_records=[DishonestyAidRecord(aid_record_id=i) for i in aid_record_ids],
    )
    session.add(row)
    session.flush()
    return row


def _visible_aid_records(
    session: Session, principal: Principal, ids: Sequence[int], problems: Problems
) -> list[int]:
    found = set(
        session.scalars(
            select(AidRecord.id)
            .join(Household, Household.id == AidRecord.household_id)
            .where(AidRecord.id.in_(list(ids)), visible_households(principal))
        )
    )
    for i, number in enumerate(ids):
        if number not in found:
            problems.add(("aid_record_ids", i), "no aid record with this id that you may see", "NOT_FOUND")
    return sorted(set(ids))


def recovered_fen(session: Session, record_id: int) -> int:
    return session.scalar(
        select(func.coalesce(func.sum(Recovery.amount_fen), 0)).where(Recovery.record_id == record_id)
    )


def record_recovery(
    session: Session, data: Mapping[str, Any], *, principal: Principal, today: date
) -> DishonestyRecord:
    """追回: money recovered on a record (``record_id`` decoded). More than is outstanding is refused."""
    check_writer(principal, "record recoveries", "recordId")
    record = session.scalar(
        select(DishonestyRecord)
        .where(
            DishonestyRecord.id == data["record_id"],
            visible_in_register(DishonestyRecord.locality_code, principal),
        )
        .with_for_update()
    )
    if record is None:
        raise fail(("recordId",), "no dishonesty record with this id that you may see", "NOT_FOUND")
    problems = Problems()
    read = Reader(problems)
    amount = read.money(data.get("amount"), ("amount",))
    if amount == 0:
        problems.add(("amount",), "must be more than zero", "INVALID_AMOUNT")
    outstanding = record.amount_to_recover_fen - recovered_fen(session, record.id)
    if amount is not None and amount > outstanding:
        problems.add(
            ("amount",),
            f"is more than the {format_yuan(outstanding)} yuan still to recover on this record",
            "OVER_RECOVERY",
        )
    received_on: date = data["received_on"]
    if received_on < record.decided_on:
        problems.add(("received_on",), f"is before the decision ({record.decided_on})", "INVALID_DATE")
    elif received_on > today:
        problems.add(("received_on",), f"is after today ({today})", "INVALID_DATE")
    note = read.text(data.get("note"), ("note",), limit=2000, required=False)
    problems.raise_if_any()
    session.add(
        Recovery(
            record_id=record.id,
            amount_fen=amount,
            received_on=received_on,
            note=note,
            recorded_at=datetime.now(UTC),
            recorded_by=principal.key_id,
        )
    )
    session.flush()
    session.refresh(record, ["recoveries"])
    return record
