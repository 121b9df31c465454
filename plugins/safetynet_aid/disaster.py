"""受灾人员救助 (aid to disaster victims), run by the emergency management department. A one-off amount.

Seeds 000 §8, 003 §12 and 004 §3.2: emergency-period, transition-period, drought and winter-spring
hardship aid and rebuilding of houses destroyed by disaster, with low-income people aided first
("对遭遇自然灾害的低收入人口…给予重点救助"; 004 names dibao, tekun, marginal and rigid-expense households).

The facts are the emergency-management feed's DISASTER signals (``amount_fen``: the reported loss):

* **Eligible**: a member of the household was hit by a disaster within the last ``disaster.recent_days``
  days (all records of the window count; losses are summed).
* **Amount**: one-off, ``disaster.loss_share`` × the losses, at most ``disaster.household_cap`` per
  household. Dibao, tekun, marginal and rigid-expense households (assessed or in force) are aided first:
  ``disaster.loss_share.low_income`` instead of the general share (reason LOW_INCOME_PRIORITY).

No seed states the window, shares or cap: they are locality parameters (illustrative national defaults).
Without any low-income aid type installed, priority counts only low-income aid in force on the date.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType
from safetynet.rules import Assessment, HouseholdBatch, ParamColumn, Parameters, because, yuan

from ._common import LOW_INCOME, on_aid, recent_signals, scaled

SOURCE = "emergency_management"


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    hit = recent_signals(h, SOURCE, "DISASTER", parameters["disaster.recent_days"])
    cap = parameters["disaster.household_cap"]
    eligible = hit.count > 0
    priority = eligible & on_aid(h, earlier, *LOW_INCOME)
    share = ParamColumn.choose(
        priority, parameters["disaster.loss_share.low_income"], parameters["disaster.loss_share"]
    )
    raw = np.where(eligible, scaled(hit.amount_fen, share.values), 0)
    amount = np.minimum(raw, cap.values).astype(np.int64)
    return Assessment(
        eligible=eligible,
        one_off_amount_fen=amount,
        reasons=[
            because(
                ~eligible,
                "NO_DISASTER_FACT",
                "no disaster recorded by emergency management within the last {days} days",
                days=hit.days,
            ),
            because(
                eligible,
                "DISASTER_RECORDED",
                "{count} disaster record(s) from emergency management within the last {days} days (latest on "
                "{latest}), losses {loss}",
                count=hit.count,
                days=hit.days,
                latest=hit.latest_on,
                loss=yuan(hit.amount_fen),
            ),
            because(
                priority,
                "LOW_INCOME_PRIORITY",
                "dibao, tekun, marginal or rigid-expense household: aided first (重点救助) at the low-income share",
            ),
            because(
                eligible,
                "LOSS_SHARE",
                "one-off aid {share} × losses {loss} = {raw}, at most {cap} per household: {amount}",
                share=share,
                loss=yuan(hit.amount_fen),
                raw=yuan(raw),
                cap=cap,
                amount=yuan(amount),
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="disaster",
            name="受灾人员救助",
            name_en="Disaster victim aid",
            tier=AidTier.SPECIAL,
            department="emergency_management",
            assess=assess,
            depends_on=LOW_INCOME,
            description=(
                "one-off share of the losses of a recent disaster, capped per household; a higher share for "
                "low-income households"
            ),
        )
    ]
