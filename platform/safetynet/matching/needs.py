"""Need listings (低收入人口需求清单): published by civil affairs, claimed and fulfilled by a partner.

A listing carries what a partner needs to help and nothing that identifies the household: the need type,
a summary written for partners, the urgency and the township. Each change appends an event to the log
(``need_events``) in the same transaction. The functions here run inside one database transaction
(``Context.write``); the caller announces the event after the commit (:mod:`safetynet.matching.services`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from safetynet.aid_chain import record_partner_fulfilment
from safetynet.catalogue import Catalogue
from safetynet.errors import CODE_PATTERN, Problems, fail
from safetynet.identity import IdentityVault
from safetynet.model import NeedEvent, NeedEventKind, NeedStatus, Partner, Role, Urgency
from safetynet.principals import LOCAL, Origin, Principal
from safetynet.store.models import AidRecord, AuditEntry, Household, Member, NeedEventRow, NeedListing
from safetynet.store.scope import visible_households

from .events import Audience

#: pg_advisory_xact_lock key serialising need-event writers, so cursors are committed in order.
EVENT_LOG_LOCK = 0x5AFE_4E45
SUMMARY_LIMIT = 500
NOTE_LIMIT = 2000
REASON_LIMIT = 500
PUBLISHERS = (Role.ADMIN, Role.CIVIL_AFFAIRS)
_ID_NUMBER_LIKE = re.compile(r"\d{17}[\dXx]|\d{15}")


def lock_event_log(session: Session) -> None:
    """Take the event-log write lock for the rest of the transaction.

    PostgreSQL assigns ids when rows are inserted, not when they are committed, so without the lock a
    reader could see event 11 before event 10 commits and skip 10 for ever. SQLite allows one writer at
    a time; a first statement that writes takes its lock before anything is read.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOG_LOCK})
    else:
        session.execute(update(NeedEventRow).where(NeedEventRow.id == -1).values(kind=NeedEventRow.kind))


def append_event(
    session: Session,
    listing: NeedListing,
    kind: NeedEventKind,
    *,
    at: datetime,
    partner_code: str | None = None,
    amount_fen: int | None = None,
) -> NeedEventRow:
    """Add an event to the log (call :func:`lock_event_log` first in the transaction)."""
    event = NeedEventRow(
        listing_id=listing.id, kind=kind, created_at=at, partner_code=partner_code, amount_fen=amount_fen
    )
    session.add(event)
    session.flush()
    listing.last_event_id = event.id
    session.flush()
    return event


def need_event(
    listing: NeedListing, *, partner_code: str | None = None, amount_fen: int | None = None
) -> NeedEvent:
    """The listing as event and decision hooks see it: nothing that identifies the household."""
    return NeedEvent(
        listing_id=listing.id,
        need_type=listing.need_type,
        summary=listing.summary,
        locality_code=listing.locality_code,
        urgency=listing.urgency,
        partner_code=partner_code,
        amount_fen=amount_fen,
    )


def audience_of(catalogue: Catalogue, principal: Principal) -> Audience:
    provided = (
        catalogue.partners.get(principal.partner_code or "") if principal.role is Role.PARTNER else None
    )
    return Audience(principal, provided.item if provided else None)


def known_need_types(catalogue: Catalogue) -> set[str]:
    """Every need type some installed partner takes."""
    return {t for p in catalogue.partners.values() for t in p.item.need_types}


def township_of(locality_code: str) -> str:
    """Listings are published at township level (a village household shows its township)."""
    return locality_code[:9] if len(locality_code) == 12 else locality_code


@dataclass(frozen=True)
class Change:
    """What a need mutation did: the listing, the event it logged, and for a fulfilment the aid record."""

    listing: NeedListing
    event: NeedEventRow
    household: Household
    aid_record: AidRecord | None = None


# -- publish ---------------------------------------------------------------------------------------


def publish_need(
    session: Session,
    household_id: int,
    data: Mapping[str, Any],
    *,
    principal: Principal,
    catalogue: Catalogue,
    vault: IdentityVault,
    now: datetime,
    origin: Origin = LOCAL,
) -> Change:
    """Publish a household's need for partners (civil affairs and admins only)."""
    lock_event_log(session)
    if principal.role not in PUBLISHERS:
        raise fail(("household_id",), f"a {principal.role.name} key cannot publish needs", "FORBIDDEN")
    household = session.scalar(
        select(Household).where(Household.id == household_id, visible_households(principal))
    )
    if household is None:
        raise fail(("household_id",), "no household with this id that you may see", "NOT_FOUND")
    problems = Problems()
    need_type = (data.get("need_type") or "").strip()
    known = known_need_types(catalogue)
    if not CODE_PATTERN.match(need_type):
        problems.add(("need_type",), "must be a need-type code such as 'medical' or 'care'", "INVALID")
    elif need_type not in known:
        problems.add(
            ("need_type",),
            f"no installed partner takes '{need_type}'; "
            f"need types taken: {', '.join(sorted(known)) or 'none'}",
            "UNKNOWN_NEED_TYPE",
        )
    summary = (data.get("summary") or "").strip()
    if not summary:
        problems.add(("summary",), "describe the need for partners (without names or numbers)", "REQUIRED")
    elif len(summary) > SUMMARY_LIMIT:
        problems.add(("summary",), f"is {len(summary)} characters; at most {SUMMARY_LIMIT}", "TOO_LONG")
    else:
        _check_summary_private(session, household, summary, vault, problems)
    urgency = data.get("urgency")
    if not isinstance(urgency, Urgency):
        problems.add(("urgency",), "one of LOW, NORMAL, HIGH, CRITICAL", "REQUIRED")
    problems.raise_if_any()
    listing = NeedListing(
        household_id=household.id,
        need_type=need_type,
        summary=summary,
        locality_code=township_of(household.locality_code),
        urgency=urgency,
        status=NeedStatus.OPEN,
        published_at=now,
        published_by=principal.key_id,
    )
    session.add(listing)
    session.flush()
    event = append_event(session, listing, NeedEventKind.PUBLISHED, at=now)
    _audit(session, principal, "publish_need", listing, origin, need_type=need_type)
    return Change(listing, event, household)


def _check_summary_private(
    session: Session, household: Household, summary: str, vault: IdentityVault, problems: Problems
) -> None:
    """A summary is shown to partners: refuse one that names a member, quotes a number or the address."""
    if _ID_NUMBER_LIKE.search(summary):
        problems.add(
            ("summary",),
            "contains what looks like an identity number; partners must not see it",
            "IDENTIFYING",
        )
        return
    names = session.scalars(select(Member.name).where(Member.household_id == household.id)).all()
    for name in names:
        if name and len(name.strip()) >= 2 and name.strip() in summary:
            problems.add(
                ("summary",),
                "names a member of the household; partners see a listing without names until assigned",
                "IDENTIFYING",
            )
            return
    address = (household.address or "").strip()
    if len(address) >= 4 and address in summary:
        problems.add(("summary",), "contains the household's address; give the need only", "IDENTIFYING")


# -- claim, fulfil, withdraw -----------------------------------------------------------------------


def _listing_for(session: Session, listing_id: int, audience: Audience) -> NeedListing:
    listing = session.scalar(select(NeedListing).where(NeedListing.id == listing_id, audience.sql()))
    if listing is None:
        raise fail(("id",), "no need listing with this id that you may see", "NOT_FOUND")
    return listing


def _partner_of(audience: Audience, action: str) -> Partner:
    if not audience.is_partner:
        raise fail(("id",), f"only a PARTNER key can {action} a need", "FORBIDDEN")
    if audience.partner is None:
        raise fail(
            ("id",),
            f"partner '{audience.principal.partner_code}' is not installed (no partner plugin provides it)",
            "UNKNOWN_PARTNER",
        )
    return audience.partner


def _not_open(listing: NeedListing, partner_code: str | None) -> None:
    if listing.status is NeedStatus.CLAIMED:
        whom = "you" if listing.claimed_by == partner_code else "another partner"
        raise fail(("id",), f"this need was already claimed by {whom}", "ALREADY_CLAIMED")
    if listing.status is NeedStatus.FULFILLED:
        raise fail(("id",), "this need has been fulfilled", "ALREADY_FULFILLED")
    if listing.status is NeedStatus.WITHDRAWN:
        raise fail(("id",), "civil affairs withdrew this need", "WITHDRAWN")


def claim_need(
    session: Session, listing_id: int, *, audience: Audience, now: datetime, origin: Origin = LOCAL
) -> Change:
    """A partner takes a listing on; a listing claimed by one partner cannot be claimed by another."""
    lock_event_log(session)
    partner = _partner_of(audience, "claim")
    listing = _listing_for(session, listing_id, audience)
    if listing.status is not NeedStatus.OPEN:
        _not_open(listing, partner.code)
    claimed = session.execute(
        update(NeedListing)
        .where(NeedListing.id == listing.id, NeedListing.status == NeedStatus.OPEN)
        .values(status=NeedStatus.CLAIMED, claimed_by=partner.code, claimed_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if claimed.rowcount != 1:  # the lock makes this unreachable; the condition keeps it true anyway
        raise fail(("id",), "this need was already claimed by another partner", "ALREADY_CLAIMED")
    event = append_event(session, listing, NeedEventKind.CLAIMED, at=now, partner_code=partner.code)
    _audit(session, audience.principal, "claim_need", listing, origin)
    return Change(listing, event, session.get_one(Household, listing.household_id))


def fulfil_need(
    session: Session,
    listing_id: int,
    *,
    audience: Audience,
    amount_fen: int | None,
    note: str | None,
    today: Any,
    now: datetime,
    origin: Origin = LOCAL,
) -> Change:
    """The partner that claimed a listing reports the help given: an aid record on the household's chain."""
    lock_event_log(session)
    partner = _partner_of(audience, "fulfil")
    problems = Problems()
    if amount_fen is not None and amount_fen < 0:
        problems.add(("amount",), "must be zero or more", "INVALID_AMOUNT")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_LIMIT:
        problems.add(("note",), f"is {len(note)} characters; at most {NOTE_LIMIT}", "TOO_LONG")
    problems.raise_if_any()
    listing = _listing_for(session, listing_id, audience)
    if listing.status is NeedStatus.OPEN:
        raise fail(("id",), "claim this need before fulfilling it", "NOT_CLAIMED")
    if listing.status is NeedStatus.CLAIMED and listing.claimed_by != partner.code:
        raise fail(("id",), "another partner claimed this need; only it can fulfil it", "NOT_YOUR_CLAIM")
    if listing.status is not NeedStatus.CLAIMED:
        _not_open(listing, partner.code)
    household = session.get_one(Household, listing.household_id)
    record = record_partner_fulfilment(
        session,
        household,
        partner_code=partner.code,
        need_type=listing.need_type,
        amount_fen=amount_fen,
        note=note,
        on=today,
        principal=audience.principal,
    )
    listing.status = NeedStatus.FULFILLED
    listing.fulfilled_at = now
    listing.fulfilled_amount_fen = amount_fen
    listing.fulfilment_note = note
    listing.aid_record_id = record.id
    session.flush()
    event = append_event(
        session, listing, NeedEventKind.FULFILLED, at=now, partner_code=partner.code, amount_fen=amount_fen
    )
    _audit(session, audience.principal, "fulfil_need", listing, origin, aid_record=record.id)
    return Change(listing, event, household, record)


def withdraw_need(
    session: Session,
    listing_id: int,
    reason: str,
    *,
    audience: Audience,
    now: datetime,
    origin: Origin = LOCAL,
) -> Change:
    """Civil affairs takes a listing back (the household's situation changed, or aid came another way)."""
    lock_event_log(session)
    if audience.principal.role not in PUBLISHERS:
        raise fail(("id",), f"a {audience.principal.role.name} key cannot withdraw needs", "FORBIDDEN")
    reason = (reason or "").strip()
    if not reason:
        raise fail(("reason",), "say why the need is withdrawn", "REQUIRED")
    if len(reason) > REASON_LIMIT:
        raise fail(("reason",), f"is {len(reason)} characters; at most {REASON_LIMIT}", "TOO_LONG")
    listing = _listing_for(session, listing_id, audience)
    if listing.status not in (NeedStatus.OPEN, NeedStatus.CLAIMED):
        _not_open(listing, None)
    listing.status = NeedStatus.WITHDRAWN
    listing.withdrawn_at = now
    listing.withdrawal_reason = reason
    session.flush()
    event = append_event(session, listing, NeedEventKind.WITHDRAWN, at=now, partner_code=listing.claimed_by)
    _audit(session, audience.principal, "withdraw_need", listing, origin, reason=reason)
    return Change(listing, event, session.get_one(Household, listing.household_id))


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    listing: NeedListing,
    origin: Origin,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            principal_id=principal.key_id,
            action=action,
            subject_type="NeedListing",
            subject_id=str(listing.id),
            detail={"household": listing.household_id, **detail},
            client=origin.client,
            user_agent=origin.user_agent,
        )
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
