"""低保家庭收入超标 — a dibao household whose assessment no longer supports dibao, routed to civil affairs.

Dibao is in force on the household's aid chain, but the dibao aid type now assesses it as not eligible
(income at or above the standard, property over the limit, tekun support instead…) or as in its gradual
exit period (渐退期). Seeds 000 §6 and 004 §2.4: "发现低收入人口可能不再符合社会救助条件的，核实后依法
终止相应救助" — verify, then end the aid; a household in gradual exit keeps dibao until the period ends.

* YELLOW: in gradual exit (the dibao rule's GRADUAL_EXIT reason): verify the exit date.
* ORANGE: not eligible any more: verify and terminate.

The evidence is the dibao rule's own reasons for the household, with every parameter it used. The
aid type concerned is the one deciding the DIBAO category (``dibao``); resolving the warning as
TERMINATED ends the household's basic-living aid (see ``safetynet.api.warnings``).
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import LowIncomeCategory, WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because

from ._common import aid_types, assessments, concat, level_codes, raise_where, reason_mask, reasons_of

CODE = "dibao_income_above_standard"
GRADUAL_EXIT = "GRADUAL_EXIT"


def dibao_code(context: dict) -> str:
    for code, aid in sorted(aid_types(context).items()):
        if aid.category is LowIncomeCategory.DIBAO:
            return code
    return "dibao"


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    n = len(h)
    code = dibao_code(context)
    assessment = assessments(context).get(code)
    in_force = h.has_active_aid(code)
    if assessment is None:
        return Detection(raised=np.zeros(n, dtype=bool), evidence=[])
    eligible = np.asarray(assessment.eligible, dtype=bool)
    exiting = in_force & reason_mask(assessment, GRADUAL_EXIT, n)
    ended = in_force & ~eligible
    raised = exiting | ended
    levels = raise_where(level_codes(n, WarningLevel.YELLOW), ended, WarningLevel.ORANGE)
    started = h.aid_started_on.get(code, np.full(n, np.datetime64("NaT", "D")))
    changed = (
        h.income_changed_on if h.income_changed_on is not None else np.full(n, np.datetime64("NaT", "D"))
    )
    state = np.where(ended, "NOT_ELIGIBLE", "GRADUAL_EXIT")
    return Detection(
        raised=raised,
        level=levels,
        aid_type_code=np.where(raised, code, ""),
        basis=np.where(raised, concat(state, changed), ""),
        evidence=[
            because(
                ended,
                "DIBAO_NO_LONGER_APPLIES",
                "{aid} in force since {started} but no longer assessed eligible: verify, then terminate",
                aid=code,
                started=started,
            ),
            because(
                exiting,
                "DIBAO_GRADUAL_EXIT",
                "{aid} in force since {started} and now in its gradual exit period: verify the exit",
                aid=code,
                started=started,
            ),
            *reasons_of(assessment, raised),
        ],
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="低保家庭收入超标",
            level=WarningLevel.ORANGE,
            watches="dibao in force while the dibao assessment is not eligible (ORANGE) or in gradual exit "
            "(YELLOW)",
            departments=("civil_affairs",),
            detect=detect,
        )
    ]
