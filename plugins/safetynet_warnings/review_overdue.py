"""复核逾期 — a household's periodic review (定期核查) is past due on the sweep date.

The schedule is :func:`safetynet.schedules.schedule` (the same code as ``Household.nextReviewDue``):
tekun, stable dibao and low-income families, marginal and rigid-expense households every
``review.months.stable`` months, dibao and low-income families with irregular income and members able
to work every ``review.months.unstable`` months (seed 003 §7, 000 §3), from the last recorded review or
the start of the reviewed aid.

* BLUE: the review is past due.
* YELLOW: a whole further interval has passed as well (the next review is missed too).

Routed to civil affairs. The evidence names the interval parameter, the last review (or the aid's start)
and the due date, which is also the basis: a review recorded for the household (a visit for one of its
warnings, or a household visit recorded as a review) resolves the warning (``safetynet.monitoring.reviews``)
and moves the due date, so the next overdue review is a new warning.
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because
from safetynet.schedules import REVIEW_OVERDUE, add_months, months_of, schedule

from ._common import aid_types, level_codes, raise_where

CODE = REVIEW_OVERDUE


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    plan = schedule(households, parameters, aid_types(context))
    day = np.datetime64(households.as_of, "D")
    overdue = plan.review_overdue(day)
    months = months_of(plan.review_months)
    missed_again = np.zeros(len(households), dtype=bool)
    missed_again[overdue] = add_months(plan.next_review_due[overdue], months[overdue]) < day
    basis = np.full(len(households), "", dtype=object)  # the due date, formatted only where raised
    basis[overdue] = plan.next_review_due[overdue].astype(str)
    return Detection(
        raised=overdue,
        level=raise_where(level_codes(len(households), WarningLevel.BLUE), missed_again, WarningLevel.YELLOW),
        aid_type_code=np.where(overdue, plan.aid_type_code, ""),
        basis=basis,
        evidence=[
            because(overdue, "REVIEW_OVERDUE", "the periodic review (复核) is past due and not recorded"),
            because(
                missed_again,
                "REVIEW_MISSED_AGAIN",
                "more than {months} months past due: the following review is missed too",
                months=plan.review_months,
            ),
            *(
                because(np.asarray(r.mask, dtype=bool) & overdue, r.code, r.message, **r.values)
                for r in plan.reasons
            ),
        ],
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="复核逾期",
            level=WarningLevel.BLUE,
            watches="the periodic review of a dibao, tekun, low-income, marginal or rigid-expense household is "
            "past due (review.months.stable / review.months.unstable); YELLOW a whole interval later",
            departments=("civil_affairs",),
            detect=detect,
        )
    ]
