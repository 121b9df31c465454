"""受灾 — a household hit by a disaster (emergency-management feed), routed to emergency management.

A DISASTER record within the locality's ``warning.disaster_recent_days`` (90 days by the illustrative
national default). Disaster victims are among the data civil affairs compares (DOMAIN.md §3); the
emergency, transition and rebuilding aid is emergency management's (000 §8, 003 §12), temporary aid for
sudden hardship is civil affairs' and must be answered quickly (003 §14: 24 hours).

* ORANGE: a disaster hit the household.
* RED: the reported losses exceed the household's annual income (monthly income × 12).

The basis is the date of the latest disaster record.
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
    whole_days,
)

CODE = "disaster"
SOURCE = "emergency_management"


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    s = h.signals
    n = len(h)
    days = parameters["warning.disaster_recent_days"]
    hit = signal_mask(h, SOURCE, ("DISASTER",), whole_days(days))
    loss = np.rint(np.bincount(s.household_index[hit], weights=s.amount_fen[hit], minlength=n)).astype(
        np.int64
    )
    count = np.bincount(s.household_index[hit], minlength=n).astype(np.int64)
    latest = latest_signal(h, hit)
    latest_on = pick(h, latest, s.occurred_on, np.datetime64("NaT", "D"))
    kind = pick(h, latest, s.value, "")
    raised = count > 0
    annual = annual_income_fen(h)
    severe = raised & (loss > annual)
    return Detection(
        raised=raised,
        level=raise_where(level_codes(n, WarningLevel.ORANGE), severe, WarningLevel.RED),
        aid_type_code=np.where(raised, aid_type_for(context, "emergency_management"), ""),
        basis=np.where(raised, latest_on.astype(str), ""),
        evidence=[
            because(
                raised,
                "DISASTER",
                "disaster {kind} on {latest} reported by emergency management ({count} record(s) within the "
                "last {days} days), losses {loss}",
                kind=kind,
                latest=latest_on,
                count=count,
                days=days,
                loss=yuan(loss),
            ),
            because(
                severe,
                "LOSS_ABOVE_ANNUAL_INCOME",
                "losses {loss} exceed the household's annual income {annual} (monthly income {monthly} × 12)",
                loss=yuan(loss),
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
            name="受灾家庭",
            level=WarningLevel.ORANGE,
            watches="disaster records within warning.disaster_recent_days (emergency-management feed); RED when "
            "losses exceed the household's annual income",
            departments=("emergency_management",),
            detect=detect,
        )
    ]
