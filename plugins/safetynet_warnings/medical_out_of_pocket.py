"""大额医疗支出 — large out-of-pocket medical spending (the medical-insurance feed), routed to medical security.

The seeds name "large medical bills, serious illness" as the medical-insurance department's shared data
(000 §5, 004 §3.3: 重病患者 … 交叉比对) without a figure, so the threshold is the locality parameter
``warning.medical_out_of_pocket_annual`` (yuan over the last 365 days; the national default is
illustrative).

* ORANGE: the household's out-of-pocket spending on inpatient, chronic-outpatient and outpatient bills
  over the last 365 days is at least the threshold.
* RED: it is also more than the household's current annual income (monthly income × 12): the bills
  alone exceed what the household lives on (因病致贫 risk).

The basis is the date of the latest bill, so a resolved warning comes back only with a new bill (or a
worse level).
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because, yuan

from ._common import (
    aid_type_for,
    annual_income_fen,
    latest_signal,
    level_codes,
    pick,
    raise_where,
    signal_mask,
)

CODE = "medical_out_of_pocket"
SOURCE = "medical_insurance"
WINDOW_DAYS = 365


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    s = h.signals
    threshold = parameters["warning.medical_out_of_pocket_annual"]
    bills = signal_mask(h, SOURCE, within_days=WINDOW_DAYS)
    spent = np.rint(np.bincount(s.household_index[bills], weights=s.amount_fen[bills], minlength=len(h)))
    spent = spent.astype(np.int64)
    count = np.bincount(s.household_index[bills], minlength=len(h)).astype(np.int64)
    latest = latest_signal(h, bills)
    latest_on = pick(h, latest, s.occurred_on, np.datetime64("NaT", "D"))
    raised = (count > 0) & (spent >= threshold.values)
    annual = annual_income_fen(h)
    beyond_income = raised & (spent > annual)
    levels = raise_where(level_codes(len(h), WarningLevel.ORANGE), beyond_income, WarningLevel.RED)
    medical_aid = aid_type_for(context, "medical_security")
    return Detection(
        raised=raised,
        level=levels,
        aid_type_code=np.where(raised, medical_aid, ""),
        basis=np.where(raised, latest_on.astype(str), ""),
        evidence=[
            because(
                raised,
                "LARGE_OUT_OF_POCKET",
                "out-of-pocket medical spending {spent} over the last {days} days ({count} bills, latest on "
                "{latest}) ≥ threshold {threshold}",
                spent=yuan(spent),
                days=WINDOW_DAYS,
                count=count,
                latest=latest_on,
                threshold=threshold,
            ),
            because(
                beyond_income,
                "OUT_OF_POCKET_ABOVE_ANNUAL_INCOME",
                "out-of-pocket spending {spent} exceeds the household's annual income {annual} "
                "(monthly income {monthly} × 12)",
                spent=yuan(spent),
                annual=yuan(annual),
                monthly=yuan(h.monthly_income_fen),
            ),
        ],
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="大额医疗支出",
            level=WarningLevel.ORANGE,
            watches="out-of-pocket medical spending over the last 365 days (medical-insurance feed); RED "
            "when it exceeds the household's annual income",
            departments=("medical_security",),
            detect=detect,
        )
    ]
