"""Changning's four circles (DOMAIN.md §1, seed 001 §2): how actively a household is followed.

The rule is defined once, as one SQL expression over the ``households`` table
(:func:`circle_expression`): the field ``Household.circle`` evaluates it for a page of households
(:func:`circles_of`) and the filter ``HouseholdFilter.circle`` compares it, so the two cannot disagree.
It reads the household's aid chain (``aid_records``) and, through ``covered``, which households are
currently in a covered low-income category (the caller knows: ``Household.categories``). Rules, first
match wins:

1. ``COVERED`` — currently DIBAO, TEKUN, MARGINAL or RIGID_EXPENSE, or a BASIC_LIVING aid in force.
2. ``COVERED_NEEDS_MORE`` — a SPECIAL (medical, education, housing, employment, …) or EMERGENCY
   (temporary) aid record that started within the last :data:`RECENT_WINDOW_DAYS`.
3. ``POLICY_EDGE`` — a BASIC_LIVING, SPECIAL or EMERGENCY aid record *terminated* (ended with an
   ``end_reason``) within the window, or an application for an aid type of those tiers *refused*
   (审核确认 not approved, ``application_aids.outcome`` REFUSED) within the window (seed 001 §2).
4. ``OTHER_CONCERN`` — aid given within the window by a partner: a catalogue partner code, or any
   provider that is neither ``civil_affairs`` nor a government department code used by an aid type.
5. otherwise no circle (NULL).

Tiers come from the catalogue: an aid record of an aid type that is not installed counts for no tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, literal, or_, select
from sqlalchemy.orm import Session

from safetynet.applications.states import AidOutcome
from safetynet.catalogue import Catalogue
from safetynet.model import AidTier, Circle, LowIncomeCategory
from safetynet.store.models import AidRecord, Application, ApplicationAid, Household

__all__ = ["COVERED_CATEGORIES", "RECENT_WINDOW_DAYS", "Circle", "circle_expression", "circles_of"]

#: "within the last 2 years" (近两年), seed 001 §2 (Changning's four circles).
RECENT_WINDOW_DAYS = 730

#: The categories that put a household in the first circle.
COVERED_CATEGORIES = frozenset(
    {
        LowIncomeCategory.DIBAO,
        LowIncomeCategory.TEKUN,
        LowIncomeCategory.MARGINAL,
        LowIncomeCategory.RIGID_EXPENSE,
    }
)

CIVIL_AFFAIRS = "civil_affairs"


def circle_expression(catalogue: Catalogue, today: date, covered: ColumnElement[bool]) -> ColumnElement[str]:
    """The household's circle on ``today`` as a SQL expression over ``households``: a Circle value, or NULL.

    ``covered`` is a condition over ``households``: the household is in a covered category now.
    """
    since = today - timedelta(days=RECENT_WINDOW_DAYS)
    basic, special = (AidTier.BASIC_LIVING,), (AidTier.SPECIAL, AidTier.EMERGENCY)
    r = AidRecord
    in_force = and_(r.started_on <= today, or_(r.ended_on.is_(None), r.ended_on > today))
    started_recently = r.started_on.between(since, today)
    terminated_recently = and_(
        r.end_reason.is_not(None), r.end_reason != "", r.ended_on.between(since, today)
    )
    given_recently = and_(
        r.started_on <= today, or_(r.started_on >= since, r.ended_on.is_(None), r.ended_on > since)
    )
    rules = [
        (covered, Circle.COVERED),
        (_aid(_of_tiers(catalogue, *basic), in_force), Circle.COVERED),
        (_aid(_of_tiers(catalogue, *special), started_recently), Circle.COVERED_NEEDS_MORE),
        (
            or_(
                _aid(_of_tiers(catalogue, *basic, *special), terminated_recently),
                _refused(_tiers(catalogue, *basic, *special), since, today),
            ),
            Circle.POLICY_EDGE,
        ),
        (_aid(_by_partner(catalogue), given_recently), Circle.OTHER_CONCERN),
    ]
    return case(*((condition, literal(circle.value)) for condition, circle in rules), else_=None)


def circles_of(
    session: Session,
    catalogue: Catalogue,
    today: date,
    household_ids: Sequence[int],
    covered_ids: Sequence[int],
) -> list[Circle | None]:
    """The circle of each household (in the order given), ``covered_ids`` being those in a covered category."""
    expression = circle_expression(catalogue, today, Household.id.in_(list(covered_ids)))
    found = dict(
        session.execute(select(Household.id, expression).where(Household.id.in_(list(household_ids)))).all()
    )
    return [Circle(found[h]) if found.get(h) else None for h in household_ids]


def _refused(codes: list[str], since: date, today: date) -> ColumnElement[bool]:
    """The household had an application for one of ``codes`` refused between ``since`` and ``today``."""
    return exists(
        select(ApplicationAid.application_id)
        .join(Application, Application.id == ApplicationAid.application_id)
        .where(
            Application.household_id == Household.id,
            Application.decided_on.between(since, today),
            ApplicationAid.outcome == AidOutcome.REFUSED,
            ApplicationAid.aid_type_code.in_(codes),
        )
    )


def _aid(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """The household has an aid record meeting ``conditions``."""
    return exists(select(AidRecord.id).where(AidRecord.household_id == Household.id, *conditions))


def _tiers(catalogue: Catalogue, *tiers: AidTier) -> list[str]:
    """The installed aid types of ``tiers``."""
    return sorted(code for code, provided in catalogue.aid_types.items() if provided.item.tier in tiers)


def _of_tiers(catalogue: Catalogue, *tiers: AidTier) -> ColumnElement[bool]:
    return AidRecord.aid_type_code.in_(_tiers(catalogue, *tiers))


def _by_partner(catalogue: Catalogue) -> ColumnElement[bool]:
    """A social partner (群团组织、慈善组织…), not civil affairs nor a government department."""
    departments = sorted({provided.item.department for provided in catalogue.aid_types.values()})
    provider = AidRecord.provider
    return or_(
        provider.in_(sorted(catalogue.partners)),
        and_(provider != CIVIL_AFFAIRS, provider.not_in(departments)),
    )
