"""The aid chain (一户一条救助链): every aid a household receives, from anyone, as dated records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from safetynet.errors import CODE_PATTERN, Problems, fail
from safetynet.households import Reader
from safetynet.model import AidEvent, Role
from safetynet.principals import Principal
from safetynet.store.models import AidRecord, Household

WRITERS = (Role.ADMIN, Role.CIVIL_AFFAIRS, Role.DEPARTMENT)


def provider_of(principal: Principal, asked: str | None) -> str:
    """Departments and partners always give aid as themselves; civil affairs defaults to ``civil_affairs``."""
    if principal.role is Role.DEPARTMENT:
        return principal.department or "department"
    if principal.role is Role.PARTNER:
        return principal.partner_code or "partner"
    return asked or "civil_affairs"


def check_aid_writer(principal: Principal, path: str, action: str = "record aid") -> None:
    """Refuse (FORBIDDEN) a principal whose role never records or ends aid, before looking anything up."""
    if principal.role not in WRITERS:
        raise fail((path,), f"a {principal.role.name} key cannot {action}", "FORBIDDEN")


def grant_aid(
    session: Session,
    household: Household,
    data: Mapping[str, Any],
    *,
    principal: Principal,
    aid_types: set[str],
) -> AidRecord:
    """Add an aid record. A second grant of the same aid by the same provider over an overlapping period
    is refused as a duplicate (nothing paid twice)."""
    check_aid_writer(principal, "household_id")
    problems = Problems()
    code = data.get("aid_type_code") or ""
    if not CODE_PATTERN.match(code):
        problems.add(("aid_type_code",), "must be a code like 'dibao' or 'medical.inpatient'", "INVALID")
    elif code not in aid_types and principal.role is not Role.DEPARTMENT:
        problems.add(
            ("aid_type_code",),
            f"'{code}' is not an installed aid type; known: {', '.join(sorted(aid_types))}",
            "UNKNOWN",
        )
    amounts = {}
    for key in ("monthly_amount_fen", "one_off_amount_fen"):
        value = data.get(key)
        if value is not None and value < 0:
            problems.add((key.removesuffix("_fen"),), "must be zero or more", "INVALID_AMOUNT")
        amounts[key] = value
    if amounts["monthly_amount_fen"] is None and amounts["one_off_amount_fen"] is None:
        problems.add(("monthly_amount",), "give a monthlyAmount, a oneOffAmount, or both", "REQUIRED")
    started_on: date = data["started_on"]
    ended_on: date | None = data.get("ended_on")
    if ended_on is not None and ended_on < started_on:
        problems.add(("ended_on",), f"is before startedOn {started_on}", "INVALID_DATE")
    note = Reader(problems).text(data.get("note"), ("note",), limit=2000, required=False)
    provider = provider_of(principal, data.get("provider"))
    if provider and not CODE_PATTERN.match(provider):
        problems.add(("provider",), "must be a code like 'civil_affairs' or 'red_cross_620700'", "INVALID")
    problems.raise_if_any()
    overlapping = session.scalar(
        select(AidRecord.id).where(
            AidRecord.household_id == household.id,
            AidRecord.aid_type_code == code,
            AidRecord.provider == provider,
            or_(AidRecord.ended_on.is_(None), AidRecord.ended_on > started_on),
            AidRecord.started_on <= (ended_on or date.max),
        )
    )
    if overlapping is not None:
        raise fail(
            ("aid_type_code",),
            f"{code} from {provider} is already on this household's aid chain for an overlapping period "
            f"(record {overlapping}); end it first or correct the dates",
            "DUPLICATE_AID",
        )
    record = AidRecord(
        household_id=household.id,
        aid_type_code=code,
        provider=provider,
        started_on=started_on,
        ended_on=ended_on,
        note=note,
        granted_by=principal.key_id,
        **amounts,
    )
    session.add(record)
    session.flush()
    return record


def end_aid(
    session: Session, record: AidRecord, ended_on: date, reason: str, *, principal: Principal
) -> AidRecord:
    """End an aid record on ``ended_on`` with a reason (终止)."""
    check_aid_writer(principal, "id", "end aid")
    if principal.role is Role.DEPARTMENT and record.provider != principal.department:
        raise fail(("id",), "a department can end only the aid it gave", "FORBIDDEN")
    problems = Problems()
    if record.ended_on is not None:
        problems.add(("id",), f"this aid already ends on {record.ended_on}", "ALREADY_ENDED")
    if ended_on < record.started_on:
        problems.add(("ended_on",), f"is before the aid started ({record.started_on})", "INVALID_DATE")
    why = Reader(problems).text(reason, ("reason",), limit=2000)
    problems.raise_if_any()
    record.ended_on = ended_on
    record.end_reason = why
    session.flush()
    return record


def aid_event(record: AidRecord, household: Household) -> AidEvent:
    return AidEvent(
        record_id=record.id,
        household_id=household.id,
        locality_code=household.locality_code,
        aid_type_code=record.aid_type_code,
        provider=record.provider,
        monthly_amount_fen=record.monthly_amount_fen,
        one_off_amount_fen=record.one_off_amount_fen,
        started_on=record.started_on,
        ended_on=record.ended_on,
        reason=record.end_reason,
    )


def record_partner_fulfilment(
    session: Session,
    household: Household,
    *,
    partner_code: str,
    need_type: str,
    amount_fen: int | None,
    note: str | None,
    on: date,
    principal: Principal,
) -> AidRecord:
    """A partner's fulfilment of a need listing, as a link of the household's aid chain.

    This is the one way a PARTNER adds to an aid chain (``grant_aid`` refuses partner keys): the caller
    (``safetynet.matching.needs.fulfil_need``) has checked that this partner claimed the listing. The
    record's provider is the partner and its aid type ``partner.<need type>``; a one-off amount if any.
    """
    if principal.role is not Role.PARTNER or principal.partner_code != partner_code:
        raise fail(("id",), "only the partner that claimed the need records its fulfilment", "FORBIDDEN")
    if amount_fen is not None and amount_fen < 0:
        raise fail(("amount",), "must be zero or more", "INVALID_AMOUNT")
    record = AidRecord(
        household_id=household.id,
        aid_type_code=f"partner.{need_type}",
        provider=partner_code,
        one_off_amount_fen=amount_fen,
        started_on=on,
        note=note,
        granted_by=principal.key_id,
    )
    session.add(record)
    session.flush()
    return record
