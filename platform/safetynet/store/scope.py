"""Scope, enforced where data is queried: every path to a household goes through ``visible_households``."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, Select, exists, false, or_, select, true

from safetynet.model import Partner, Role
from safetynet.principals import Principal
from safetynet.rules import scope_prefix

from .models import AidRecord, Household, NeedListing, Visit, Warning, WarningRoute


def within_scope(column: ColumnElement[str], principal: Principal) -> ColumnElement[bool]:
    """A locality-code column inside the principal's area."""
    prefix = scope_prefix(principal.scope)
    return column.startswith(prefix, autoescape=True) if prefix else true()


def visible_households(principal: Principal) -> ColumnElement[bool]:
    """The condition on ``Household`` for what this principal may read.

    Admins and auditors: everything. Civil affairs: households under its locality. Departments:
    households in their area with a warning routed to them or aid they gave. Partners: none (they see
    need listings, never households).
    """
    if principal.role in (Role.ADMIN, Role.AUDITOR):
        return true()
    if principal.role is Role.CIVIL_AFFAIRS:
        return within_scope(Household.locality_code, principal)
    if principal.role is Role.DEPARTMENT and principal.department:
        department = principal.department
        routed = exists(
            select(Warning.id)
            .join(WarningRoute, WarningRoute.warning_id == Warning.id)
            .where(Warning.household_id == Household.id, WarningRoute.department == department)
        )
        gave = exists(
            select(AidRecord.id).where(
                AidRecord.household_id == Household.id, AidRecord.provider == department
            )
        )
        return within_scope(Household.locality_code, principal) & (routed | gave)
    return false()


def _routed_warning_ids(department: str) -> Select[tuple[int]]:
    """The ids of the warnings routed to ``department`` (分类推送)."""
    return select(WarningRoute.warning_id).where(WarningRoute.department == department)


def visible_need_listings(principal: Principal, partner: Partner | None) -> ColumnElement[bool]:
    """The condition on ``NeedListing`` for what this principal may read (低收入需求清单).

    Admins and auditors: every listing. Civil affairs: listings of the households it may see.
    Partners: listings of the need types they take in the areas they serve (``partner`` is the catalogue
    entry for ``principal.partner_code``; None when it is not installed: nothing). Departments: none.
    """
    if principal.role in (Role.ADMIN, Role.AUDITOR):
        return true()
    if principal.role is Role.CIVIL_AFFAIRS:
        return NeedListing.household_id.in_(select(Household.id).where(visible_households(principal)))
    if principal.role is Role.PARTNER and partner is not None and partner.code == principal.partner_code:
        return partner_takes(partner)
    return false()


def partner_takes(partner: Partner) -> ColumnElement[bool]:
    """Listings of ``partner``'s need types inside one of the areas it serves."""
    prefixes = [scope_prefix(code) for code in partner.localities]
    areas = [NeedListing.locality_code.startswith(p, autoescape=True) if p else true() for p in prefixes]
    return NeedListing.need_type.in_(list(partner.need_types)) & (or_(*areas) if areas else false())


def visible_warnings(principal: Principal) -> ColumnElement[bool]:
    """The condition on ``Warning`` for what this principal may read.

    The warning's household must be visible (:func:`visible_households`), and
    :func:`warning_restriction` holds.
    """
    household = Warning.household_id.in_(select(Household.id).where(visible_households(principal)))
    return household & warning_restriction(principal)


def warning_restriction(principal: Principal) -> ColumnElement[bool]:
    """The condition on ``Warning`` beyond its household being visible: a department sees only the
    warnings routed to it, not every warning of a household it may see."""
    if principal.role is Role.DEPARTMENT:
        return Warning.id.in_(_routed_warning_ids(principal.department or ""))
    return true()


def may_see_warning(principal: Principal, household_locality: str, routes: Collection[str]) -> bool:
    """:func:`visible_warnings` in memory, for a warning already read (the live warning feed)."""
    if principal.role in (Role.ADMIN, Role.AUDITOR):
        return True
    inside = household_locality.startswith(scope_prefix(principal.scope))
    if principal.role is Role.CIVIL_AFFAIRS:
        return inside
    if principal.role is Role.DEPARTMENT and principal.department:
        return inside and principal.department in routes  # routed to it: its household is visible too
    return False


def visible_visits(principal: Principal) -> ColumnElement[bool]:
    """The condition on ``Visit`` (入户核查) for what this principal may read: see :func:`visit_restriction`."""
    household = Visit.household_id.in_(select(Household.id).where(visible_households(principal)))
    return household & visit_restriction(principal)


def visit_restriction(principal: Principal) -> ColumnElement[bool]:
    """The condition on ``Visit`` beyond its household being visible: a department sees only the visits
    that verified a warning routed to it."""
    if principal.role is Role.DEPARTMENT:
        return Visit.warning_id.in_(_routed_warning_ids(principal.department or ""))
    return true()
