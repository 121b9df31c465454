"""Reading applications: who may see which, and which are overdue."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, exists, select

from safetynet.catalogue import Catalogue
from safetynet.model import Role
from safetynet.principals import Principal
from safetynet.store.models import Application, ApplicationAid, Household
from safetynet.store.scope import visible_households

from .states import PENDING


def visible_applications(principal: Principal, catalogue: Catalogue) -> ColumnElement[bool]:
    """The condition on ``Application`` for what this principal may read.

    The household must be visible (``store.scope.visible_households``: admins and auditors everything,
    civil affairs its area, partners nothing). A department sees, of those, the applications asking for
    an aid type it runs (协同办理).
    """
    household = Application.household_id.in_(select(Household.id).where(visible_households(principal)))
    if principal.role is not Role.DEPARTMENT:
        return household
    runs = [code for code, p in catalogue.aid_types.items() if p.item.department == principal.department]
    asks = exists(
        select(ApplicationAid.application_id).where(
            ApplicationAid.application_id == Application.id, ApplicationAid.aid_type_code.in_(runs)
        )
    )
    return household & asks


def overdue_condition(today: date) -> ColumnElement[bool]:
    """Accepted, not decided, and past the due date on ``today``."""
    return Application.status.in_(PENDING) & (Application.decision_due_on < today)


def is_overdue(application: Application, today: date) -> bool:
    """:func:`overdue_condition` for one loaded application."""
    due = application.decision_due_on
    return application.status in PENDING and due is not None and due < today
