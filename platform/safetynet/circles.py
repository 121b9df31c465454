"""Changning's four circles (DOMAIN.md §1, seed 001 §2): how actively a household is followed.

The decision is pure: it takes the household's current low-income categories and its aid chain,
plus the catalogue (for aid-type tiers, departments and partner codes). The GraphQL resolver loads
those for a whole page at once (``api.loaders.circles``) and calls :func:`circle_of` per household.

Rules, first match wins:

1. ``COVERED`` — currently DIBAO, TEKUN, MARGINAL or RIGID_EXPENSE, or a BASIC_LIVING aid in force.
2. ``COVERED_NEEDS_MORE`` — a SPECIAL (medical, education, housing, employment, …) or EMERGENCY
   (temporary) aid record that started within the last :data:`RECENT_WINDOW_DAYS`.
3. ``POLICY_EDGE`` — a BASIC_LIVING, SPECIAL or EMERGENCY aid record *terminated* (ended with an
   ``end_reason``) within the window. Seed 001 §2 also counts households whose application was
   *refused*; refused applications are not recorded yet (they come with a later issue), so only
   terminations count for now.
4. ``OTHER_CONCERN`` — aid given within the window by a partner: a catalogue partner code, or any
   provider that is neither ``civil_affairs`` nor a government department code used by an aid type.
5. otherwise no circle (None).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from enum import Enum
from typing import Protocol

from safetynet.catalogue import Catalogue
from safetynet.model import AidTier, LowIncomeCategory

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


class Circle(Enum):
    """Changning's four circles (长宁 四个圈), DOMAIN.md §1."""

    COVERED = "COVERED"  # 已纳入保障
    COVERED_NEEDS_MORE = "COVERED_NEEDS_MORE"  # 已保障但需加强
    POLICY_EDGE = "POLICY_EDGE"  # 政策边缘
    OTHER_CONCERN = "OTHER_CONCERN"  # 其他需关注


class AidLink(Protocol):
    """What the decision reads of an aid record (``store.models.AidRecord`` fits)."""

    aid_type_code: str
    provider: str
    started_on: date
    ended_on: date | None
    end_reason: str | None


def _in_force(record: AidLink, today: date) -> bool:
    return record.started_on <= today and (record.ended_on is None or record.ended_on > today)


def circle_of(
    catalogue: Catalogue,
    categories: Iterable[LowIncomeCategory],
    aid_chain: Iterable[AidLink],
    today: date,
) -> Circle | None:
    """The circle of one household on ``today``, or None if it is in none of the four."""
    chain = list(aid_chain)
    since = today - timedelta(days=RECENT_WINDOW_DAYS)

    def tier(record: AidLink) -> AidTier | None:
        provided = catalogue.aid_types.get(record.aid_type_code)
        return provided.item.tier if provided else None

    if COVERED_CATEGORIES & set(categories):
        return Circle.COVERED
    if any(tier(r) is AidTier.BASIC_LIVING and _in_force(r, today) for r in chain):
        return Circle.COVERED
    if any(tier(r) in (AidTier.SPECIAL, AidTier.EMERGENCY) and since <= r.started_on <= today for r in chain):
        return Circle.COVERED_NEEDS_MORE
    if any(
        tier(r) in (AidTier.BASIC_LIVING, AidTier.SPECIAL, AidTier.EMERGENCY)
        and r.ended_on is not None
        and r.end_reason
        and since <= r.ended_on <= today
        for r in chain
    ):
        return Circle.POLICY_EDGE
    departments = {p.item.department for p in catalogue.aid_types.values()}
    if any(
        is_partner(catalogue, r.provider, departments) and r.started_on <= today and _recent(r, since)
        for r in chain
    ):
        return Circle.OTHER_CONCERN
    return None


def _recent(record: AidLink, since: date) -> bool:
    """Given within the window: started in it, or still running into it."""
    return record.started_on >= since or record.ended_on is None or record.ended_on > since


def is_partner(catalogue: Catalogue, provider: str, departments: set[str] | None = None) -> bool:
    """A social partner (群团组织、慈善组织…), not civil affairs nor a government department."""
    if provider in catalogue.partners:
        return True
    if departments is None:
        departments = {p.item.department for p in catalogue.aid_types.values()}
    return provider != CIVIL_AFFAIRS and provider not in departments
