"""Integrity flags on households: a member who is a registered near relative of a staff member of the
household's area (近亲属备案), or a member with a dishonesty record anywhere (失信).

Matching is by the identity numbers' keyed hashes, in SQL, for any number of households at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from safetynet.model import format_yuan
from safetynet.store.models import DishonestyRecord, Household, Member, NearRelative, Recovery


class FlagCode(StrEnum):
    NEAR_RELATIVE = "NEAR_RELATIVE"
    DISHONESTY = "DISHONESTY"


@dataclass(frozen=True)
class IntegrityFlag:
    """A reason to look twice at a household's aid: ``NEAR_RELATIVE`` or ``DISHONESTY``."""

    code: str
    message: str
    member_id: int | None = None  # the household member the flag is about
    record_id: int | None = None  # the near-relative registration or dishonesty record behind it


def household_flags(session: Session, household_id: int, on: date) -> list[IntegrityFlag]:
    """The integrity flags on one household on a date."""
    return flags_by_household(session, [household_id], on).get(household_id, [])


def flags_by_household(
    session: Session, household_ids: Sequence[int], on: date
) -> dict[int, list[IntegrityFlag]]:
    """Integrity flags on ``on`` by household id (households without any are left out).

    A registration counts from the day it was made until the day it is removed; a dishonesty record
    from its decision date, with no end. Members who died before ``on`` are left out.
    """
    found: dict[int, list[IntegrityFlag]] = defaultdict(list)
    if not household_ids:
        return found
    end_of_day = datetime.combine(on + timedelta(days=1), time(), tzinfo=UTC)
    living = (
        Member.household_id.in_(list(household_ids)),
        or_(Member.deceased_on.is_(None), Member.deceased_on > on),
    )
    relatives = session.execute(
        select(Member.household_id, Member.id, Member.name, Member.id_number_masked, NearRelative)
        .join(NearRelative, NearRelative.id_number_hash == Member.id_number_hash)
        .join(Household, Household.id == Member.household_id)
        .where(
            *living,
            Household.locality_code.startswith(NearRelative.locality_prefix),
            NearRelative.registered_at < end_of_day,
            or_(NearRelative.removed_at.is_(None), NearRelative.removed_at >= end_of_day),
        )
        .order_by(Member.household_id, Member.id, NearRelative.id)
    ).all()
    for household_id, member_id, name, masked, relative in relatives:
        found[household_id].append(
            IntegrityFlag(
                code=FlagCode.NEAR_RELATIVE,
                message=(
                    f"近亲属备案: {name} ({masked}) is a registered near relative ({relative.kinship}) of "
                    f"{relative.staff_name}, {relative.staff_post} in {relative.locality_code}"
                ),
                member_id=member_id,
                record_id=relative.id,
            )
        )
    recovered = (
        select(Recovery.record_id, func.sum(Recovery.amount_fen).label("fen"))
        .group_by(Recovery.record_id)
        .subquery()
    )
    dishonest = session.execute(
        select(
            Member.household_id,
            Member.id,
            Member.name,
            Member.id_number_masked,
            DishonestyRecord,
            func.coalesce(recovered.c.fen, 0),
        )
        .join(DishonestyRecord, DishonestyRecord.id_number_hash == Member.id_number_hash)
        .outerjoin(recovered, recovered.c.record_id == DishonestyRecord.id)
        .where(*living, DishonestyRecord.decided_on <= on)
        .order_by(Member.household_id, Member.id, DishonestyRecord.id)
    ).all()
    for household_id, member_id, name, masked, record, recovered_fen in dishonest:
        outstanding = record.amount_to_recover_fen - int(recovered_fen)
        found[household_id].append(
            IntegrityFlag(
                code=FlagCode.DISHONESTY,
                message=(
                    f"失信: {name} ({masked}) obtained aid by fraud, decided {record.decided_on} by "
                    f"{record.deciding_unit}; {format_yuan(outstanding)} of "
                    f"{format_yuan(record.amount_to_recover_fen)} yuan still to recover"
                ),
                member_id=member_id,
                record_id=record.id,
            )
        )
    return found
