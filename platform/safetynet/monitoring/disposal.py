"""Handling a warning: assign → visit (核查) → dispose (分类处置, seed 004 §2.4).

The lifecycle (ARCHITECTURE.md): OPEN → ASSIGNED → VERIFIED → RESOLVED, with one of five resolutions:

* ``ENROLLED`` — enrol the household in the aid it qualifies for: an aid record goes on its aid chain
  (:func:`safetynet.aid_chain.grant_aid`). The aid type is the one given, else the warning's own; the
  monthly amount is the one given, else the latest sweep's assessment (``assessment_results``). The
  provider is the aid type's department (a department principal always gives aid as itself).
* ``REFERRED`` — push the case to the responsible department (medical → medical_security, …): the
  department given, else the department of the warning's aid type, else the first department the
  warning was routed to other than civil affairs. It is recorded (``referred_to``) and the warning is
  routed to it, so the department sees it.
* ``ONE_MATTER_ONE_DISCUSSION`` — referred to the county coordination mechanism (一事一议); a note is
  required.
* ``TERMINATED`` — end the aid that no longer applies, after verification (核实后依法终止), with the note
  as the reason (:func:`safetynet.aid_chain.end_aid`), on today's date. Which records: for the
  ``dibao_income_above_standard`` rule, every basic-living aid record in force (the household left dibao;
  dibao, tekun support and low-income family aid alike end); otherwise the records in force of the aid
  type given, else of the warning's aid type.
* ``NO_ACTION`` — verified, nothing to do.

ENROLLED and TERMINATED need a recorded visit first (the warning is VERIFIED): aid is granted or ended
only after verification. Resolving a resolved or dismissed warning, assigning or visiting one, are user
errors (``ILLEGAL_TRANSITION``); nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from safetynet.aid_chain import aid_event, end_aid, grant_aid
from safetynet.catalogue import Catalogue
from safetynet.errors import CODE_PATTERN, Problems, fail
from safetynet.model import AidEvent, AidTier, Resolution, Role
from safetynet.model import WarningStatus as Status
from safetynet.principals import Principal
from safetynet.store.models import AidRecord, AssessmentResult, Household, Visit, Warning, WarningRoute
from safetynet.store.scope import visible_warnings

WRITERS = (Role.ADMIN, Role.CIVIL_AFFAIRS, Role.DEPARTMENT)
OPEN = (Status.OPEN, Status.ASSIGNED, Status.VERIFIED)
NEEDS_VISIT = (Resolution.ENROLLED, Resolution.TERMINATED)
NEEDS_NOTE = (Resolution.ONE_MATTER_ONE_DISCUSSION, Resolution.TERMINATED)
#: Rules whose TERMINATED resolution ends every basic-living aid record in force.
ENDS_BASIC_LIVING = frozenset({"dibao_income_above_standard"})
#: How far in the future a visit time may be (clock differences). A visit may be dated up to a day
#: before the warning was raised (a same-day visit noted with a rough time), not earlier.
CLOCK_SLACK = timedelta(hours=1)


@dataclass
class Disposal:
    """A resolved warning and the aid events to announce once committed."""

    warning: Warning
    granted: list[AidEvent] = field(default_factory=list)
    ended: list[AidEvent] = field(default_factory=list)


def find_warning(session: Session, principal: Principal, warning_id: int, path: str = "id") -> Warning:
    """A warning the principal may see, locked for the change; a NOT_FOUND user error otherwise."""
    if principal.role not in WRITERS:
        raise fail((path,), f"a {principal.role.name} key cannot handle warnings", "FORBIDDEN")
    warning = session.scalar(
        select(Warning)
        .where(Warning.id == warning_id, visible_warnings(principal))
        .options(selectinload(Warning.routes))
        .with_for_update()
    )
    if warning is None:
        raise fail((path,), "no warning with this id that you may see", "NOT_FOUND")
    return warning


def _still_open(warning: Warning, action: str, path: str = "id") -> None:
    if warning.status not in OPEN:
        raise fail(
            (path,),
            f"the warning is {warning.status.name}{f' ({warning.resolution.name})' if warning.resolution else ''}; "
            f"it cannot be {action}",
            "ILLEGAL_TRANSITION",
        )


def _text(
    problems: Problems, value: str | None, path: str, limit: int, *, required: bool = True
) -> str | None:
    text = (value or "").strip()
    if required and not text:
        problems.add((path,), "must not be empty", "REQUIRED")
    elif len(text) > limit:
        problems.add((path,), f"is longer than {limit} characters", "TOO_LONG")
    return text or None


def assign_warning(session: Session, warning: Warning, assignee: str) -> Warning:
    """分派: give the warning to a caseworker; an OPEN warning becomes ASSIGNED."""
    _still_open(warning, "assigned")
    problems = Problems()
    name = _text(problems, assignee, "assignee", 100)
    problems.raise_if_any()
    warning.assignee = name
    if warning.status is Status.OPEN:
        warning.status = Status.ASSIGNED
    warning.updated_at = datetime.now(UTC)
    session.flush()
    return warning


def record_visit(
    session: Session,
    warning: Warning,
    *,
    visitor: str,
    visited_at: datetime,
    findings: str,
    household_id: int | None = None,
) -> Visit:
    """入户核查: record a home visit for the warning; an OPEN or ASSIGNED warning becomes VERIFIED."""
    _still_open(warning, "visited", "warningId")
    problems = Problems()
    if household_id is not None and household_id != warning.household_id:
        problems.add(("householdId",), "is not the household of this warning", "MISMATCH")
    who = _text(problems, visitor, "visitor", 100)
    found = _text(problems, findings, "findings", 10_000)
    moment = visited_at if visited_at.tzinfo else visited_at.replace(tzinfo=UTC)
    raised = _aware(warning.raised_at)
    if moment > datetime.now(UTC) + CLOCK_SLACK:
        problems.add(("visitedAt",), "is in the future", "INVALID_DATE")
    elif moment < raised - timedelta(days=1):
        problems.add(
            ("visitedAt",),
            f"is before the warning was raised ({raised.isoformat(timespec='minutes')}): it cannot verify it",
            "INVALID_DATE",
        )
    problems.raise_if_any()
    visit = Visit(
        household_id=warning.household_id,
        warning_id=warning.id,
        visitor=who,
        visited_at=moment,
        findings=found,
    )
    session.add(visit)
    if warning.status in (Status.OPEN, Status.ASSIGNED):
        warning.status = Status.VERIFIED
    warning.updated_at = datetime.now(UTC)
    session.flush()
    return visit


def resolve_warning(
    session: Session,
    warning: Warning,
    resolution: Resolution,
    *,
    principal: Principal,
    catalogue: Catalogue,
    today: date,
    note: str | None = None,
    aid_type_code: str | None = None,
    monthly_amount_fen: int | None = None,
    department: str | None = None,
) -> Disposal:
    """分类处置: resolve the warning as ``resolution`` (see the module for what each one does)."""
    _still_open(warning, "resolved")
    if resolution in NEEDS_VISIT and warning.status is not Status.VERIFIED:
        raise fail(
            ("resolution",),
            f"{resolution.name} needs a verified warning: record the home visit first (recordVisit)",
            "NOT_VERIFIED",
        )
    problems = Problems()
    text = _text(problems, note, "note", 10_000, required=resolution in NEEDS_NOTE)
    if aid_type_code is not None and not CODE_PATTERN.match(aid_type_code):
        problems.add(("aidTypeCode",), "must be a code like 'dibao' or 'medical'", "INVALID")
    if monthly_amount_fen is not None and monthly_amount_fen < 0:
        problems.add(("monthlyAmount",), "must be zero or more", "INVALID_AMOUNT")
    if department is not None and not CODE_PATTERN.match(department):
        problems.add(("department",), "must be a department code like 'medical_security'", "INVALID")
    problems.raise_if_any()

    household = session.get(Household, warning.household_id)
    assert household is not None
    disposal = Disposal(warning)
    code = aid_type_code or warning.aid_type_code
    if resolution is Resolution.ENROLLED:
        disposal.granted.append(
            _enrol(session, warning, household, code, monthly_amount_fen, text, principal, catalogue, today)
        )
    elif resolution is Resolution.REFERRED:
        _refer(warning, department, code, catalogue)
    elif resolution is Resolution.TERMINATED:
        disposal.ended += _terminate(
            session, warning, household, code, text or "", principal, catalogue, today
        )
    warning.status = Status.RESOLVED
    warning.resolution = resolution
    warning.resolution_note = text
    warning.resolved_at = datetime.now(UTC)
    warning.updated_at = warning.resolved_at
    session.flush()
    return disposal


def _enrol(
    session: Session,
    warning: Warning,
    household: Household,
    code: str | None,
    monthly_amount_fen: int | None,
    note: str | None,
    principal: Principal,
    catalogue: Catalogue,
    today: date,
) -> AidEvent:
    if not code:
        raise fail(("aidTypeCode",), "this warning names no aid type: say which aid to enrol in", "REQUIRED")
    amounts: dict[str, Any] = {"monthly_amount_fen": monthly_amount_fen, "one_off_amount_fen": None}
    if monthly_amount_fen is None:
        assessed = session.get(AssessmentResult, (household.id, code))
        if assessed is None:
            raise fail(
                ("monthlyAmount",),
                f"no sweep has assessed {code} for this household: give the monthly amount",
                "REQUIRED",
            )
        amounts = {
            "monthly_amount_fen": assessed.monthly_amount_fen,
            "one_off_amount_fen": assessed.one_off_amount_fen,
        }
        if amounts["monthly_amount_fen"] is None and amounts["one_off_amount_fen"] is None:
            amounts["monthly_amount_fen"] = 0  # a category without cash of its own (e.g. marginal)
    aid = catalogue.aid_types.get(code)
    record = grant_aid(
        session,
        household,
        {
            "aid_type_code": code,
            "started_on": today,
            "provider": aid.item.department if aid else None,
            "note": note or f"enrolled after warning {warning.id} ({warning.rule})",
            **amounts,
        },
        principal=principal,
        aid_types=set(catalogue.aid_types),
    )
    return aid_event(record, household)


def _refer(warning: Warning, department: str | None, code: str | None, catalogue: Catalogue) -> None:
    if not department and code and code in catalogue.aid_types:
        department = catalogue.aid_types[code].item.department
    if not department:
        department = next((r.department for r in warning.routes if r.department != "civil_affairs"), None)
    if not department:
        raise fail(("department",), "say which department the case is referred to", "REQUIRED")
    warning.referred_to = department
    if department not in warning.routed_to:
        warning.routes.append(WarningRoute(department=department))


def _terminate(
    session: Session,
    warning: Warning,
    household: Household,
    code: str | None,
    reason: str,
    principal: Principal,
    catalogue: Catalogue,
    today: date,
) -> list[AidEvent]:
    if warning.rule in ENDS_BASIC_LIVING:
        codes = [c for c, p in catalogue.aid_types.items() if p.item.tier is AidTier.BASIC_LIVING]
    elif code:
        codes = [code]
    else:
        raise fail(("aidTypeCode",), "this warning names no aid type: say which aid to end", "REQUIRED")
    records = session.scalars(
        select(AidRecord)
        .where(
            AidRecord.household_id == household.id,
            AidRecord.aid_type_code.in_(codes),
            AidRecord.started_on <= today,
            or_(AidRecord.ended_on.is_(None), AidRecord.ended_on > today),
        )
        .order_by(AidRecord.id)
    ).all()
    if not records:
        raise fail(
            ("resolution",),
            f"the household has no {' or '.join(codes) or 'such'} aid in force to terminate",
            "NOTHING_TO_END",
        )
    ended = []
    for record in records:
        end_aid(session, record, today, reason, principal=principal)
        ended.append(aid_event(record, household))
    return ended


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
