"""Scope, enforced where data is queried: every path to a household goes through ``visible_households``."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, select, true

from safetynet.model import Role
from safetynet.principals import Principal
from safetynet.rules import scope_prefix

from .models import AidRecord, Household, Warning, WarningRoute


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
