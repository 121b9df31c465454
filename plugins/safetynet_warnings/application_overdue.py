"""审核确认超时 — an accepted application whose decision deadline has passed, routed to civil affairs.

Applications are decided within ``approval.working_days`` working days of acceptance (20 in Changning,
seed 001 §5.1), ``approval.working_days_extended`` once extended for a special case (45). The core
counts the working days on the official calendar when the application is accepted or extended and
gives each batch, per household, the undecided application due first (``application_id``,
``application_due_on``); this rule warns when that date is before the sweep's date.

* YELLOW: the decision is late. The basis is the application, so one late application is one warning,
  updated by later sweeps, never duplicated; the core resolves it when the application is decided.
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because

CODE = "application_overdue"  # the core (safetynet.applications.overdue) closes it by this code


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    due = h.application_due_on
    if due is None or h.application_id is None:  # a batch built without applications
        return Detection(raised=np.zeros(len(h), dtype=bool), evidence=[])
    raised = ~np.isnat(due) & (due < np.datetime64(h.as_of, "D"))
    number = h.application_id.astype(str)
    return Detection(
        raised=raised,
        basis=np.where(raised, np.char.add("application:", number), "").astype(object),
        evidence=[
            because(
                raised,
                "APPLICATION_OVERDUE",
                "application {application} was due for a decision by {due} (审核确认时限) and is not decided: "
                "decide it, or find out why it is late",
                application=h.application_id,
                due=due,
            )
        ],
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="申请审核确认超时",
            level=WarningLevel.YELLOW,
            watches="accepted applications not decided by their due date (approval.working_days working days, "
            "extended once to approval.working_days_extended)",
            departments=("civil_affairs",),
            detect=detect,
        )
    ]
