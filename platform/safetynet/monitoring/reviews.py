"""Recording reviews (复核) and household visits (探访): what the review schedule runs from.

A review of a household is recorded when

* a home visit is recorded for one of its warnings (入户核查, ``recordVisit``): verifying a warning means
  checking the household's circumstances;
* a household visit not tied to a warning is recorded as a review (``recordHouseholdVisit`` with
  ``review: true``); without it the visit is a care visit (探访关爱) only.

A decision on aid (an enrolment after a warning, an approved application) needs nothing here: it starts
the aid on that day, and the schedule runs from the later of the last review and the start of the
reviewed aid (``safetynet.schedules``).

Recording a review moves ``households.last_reviewed_on`` forward (never back: a late entry of an old
visit changes nothing) and resolves the household's open ``review_overdue`` warnings as NO_ACTION with a
note saying when and how — the review they asked for is done. A review dated more than a day before a
warning was raised does not resolve it (as for a visit verifying a warning). The household's
``version`` is not changed: a review is not a change of circumstances.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from safetynet.errors import Problems, fail
from safetynet.model import Resolution, Role
from safetynet.model import WarningStatus as Status
from safetynet.principals import Principal
from safetynet.schedules import REVIEW_OVERDUE
from safetynet.store.models import Household, Visit, Warning
from safetynet.store.scope import visible_households

from .disposal import CLOCK_SLACK, OPEN, _text

#: Who records household visits and reviews: civil affairs (民政) and admins.
VISITORS = (Role.ADMIN, Role.CIVIL_AFFAIRS)


def record_review(session: Session, household_id: int, day: date, how: str) -> list[int]:
    """Record a review of the household on ``day``; returns the ids of the review warnings it resolved."""
    households = Household.__table__
    session.execute(
        update(households)
        .where(
            households.c.id == household_id,
            or_(households.c.last_reviewed_on.is_(None), households.c.last_reviewed_on < day),
        )
        .values(last_reviewed_on=day)
    )
    now = datetime.now(UTC)
    resolved = []
    for warning in session.scalars(
        select(Warning)
        .where(
            Warning.household_id == household_id,
            Warning.rule == REVIEW_OVERDUE,
            Warning.status.in_(OPEN),
        )
        .order_by(Warning.id)
    ):
        if day < _aware(warning.raised_at).date() - timedelta(days=1):
            continue
        warning.status = Status.RESOLVED
        warning.resolution = Resolution.NO_ACTION
        warning.resolution_note = f"review (复核) recorded on {day.isoformat()}: {how}"
        warning.resolved_at = warning.updated_at = now
        resolved.append(warning.id)
    session.flush()
    return resolved


def record_household_visit(
    session: Session,
    principal: Principal,
    household_id: int,
    *,
    visitor: str,
    visited_at: datetime,
    findings: str,
    review: bool,
) -> tuple[Visit, list[int]]:
    """探访 / 复核: a home visit not tied to a warning, a review too when ``review``.

    Returns the visit and the ids of the review warnings it resolved (see the module).
    """
    if principal.role not in VISITORS:
        raise fail(
            ("householdId",), f"a {principal.role.name} key cannot record household visits", "FORBIDDEN"
        )
    household = session.scalar(
        select(Household.id).where(Household.id == household_id, visible_households(principal))
    )
    if household is None:
        raise fail(("householdId",), "no household with this id that you may see", "NOT_FOUND")
    problems = Problems()
    who = _text(problems, visitor, "visitor", 100)
    found = _text(problems, findings, "findings", 10_000)
    moment = visited_at if visited_at.tzinfo else visited_at.replace(tzinfo=UTC)
    if moment > datetime.now(UTC) + CLOCK_SLACK:
        problems.add(("visitedAt",), "is in the future", "INVALID_DATE")
    problems.raise_if_any()
    visit = Visit(household_id=household_id, warning_id=None, visitor=who, visited_at=moment, findings=found)
    session.add(visit)
    session.flush()
    resolved = (
        record_review(session, household_id, moment.date(), f"household visit {visit.id} by {who}")
        if review
        else []
    )
    return visit, resolved


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
