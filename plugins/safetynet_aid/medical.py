"""医疗救助 (medical aid), run by the medical security department. One-off (annual) amounts, no monthly cash.

For dibao, tekun, marginal and rigid-expense households (000 §8, 004 §3.2), assessed or in force:

* **Premium subsidy** (资助参保) for the residents' medical insurance, per member per year: tekun in full
  (``medical.resident_premium_annual``), dibao and the other low-income households a fixed amount
  (``medical.premium_subsidy_fixed``, at most the premium) — 004 §3.2 "对特困人员…给予全额资助。对
  最低生活保障对象等其他符合资助参保条件的低收入人口给予定额资助".
* **Aid for out-of-pocket costs**: the household's declared annual medical rigid expense, taken as what
  it paid itself after insurance, above ``medical.aid_threshold_annual`` (起付线) is aided at
  ``medical.aid_ratio`` up to ``medical.aid_cap_annual`` a year (003 §8 年度医疗救助限额).

The amounts are illustrative locality parameters. Per-claim detail (inpatient versus chronic outpatient,
the second "tilted" aid when out-of-pocket stays heavy after the three layers, 004 §3.2) needs the
medical-insurance claims, which are not in the batch; the annual expense stands in for them.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, ExpenseKind
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

from ._common import LOW_INCOME, on_aid, scaled


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    premium = parameters["medical.resident_premium_annual"]
    fixed = parameters["medical.premium_subsidy_fixed"]
    threshold = parameters["medical.aid_threshold_annual"]
    ratio = parameters["medical.aid_ratio"]
    cap = parameters["medical.aid_cap_annual"]
    size = h.size
    target = (size > 0) & on_aid(h, earlier, *LOW_INCOME)
    tekun = target & on_aid(h, earlier, "tekun")
    others = target & ~tekun
    per_person = np.where(tekun, premium.values, np.where(others, np.minimum(fixed.values, premium.values), 0))
    premium_subsidy = per_person * size

    out_of_pocket = h.expense_annual_fen(ExpenseKind.MEDICAL)
    above = target & (out_of_pocket > threshold.values)
    cost_aid = np.where(
        above, np.minimum(scaled(out_of_pocket - threshold.values, ratio.values), cap.values), 0
    ).astype(np.int64)
    one_off = np.where(target, premium_subsidy + cost_aid, 0).astype(np.int64)
    cost_values = dict(oop=yuan(out_of_pocket), threshold=threshold)
    return Assessment(
        eligible=target,
        one_off_amount_fen=one_off,
        reasons=[
            because(
                (size > 0) & ~target,
                "NOT_LOW_INCOME",
                "not a dibao, tekun, marginal or rigid-expense household",
            ),
            because(
                tekun,
                "PREMIUM_PAID_IN_FULL",
                "tekun: residents' medical insurance premium paid in full, {premium} × {members} = {total} a year",
                premium=premium,
                members=size,
                total=yuan(premium_subsidy),
            ),
            because(
                others,
                "PREMIUM_SUBSIDY_FIXED",
                "fixed premium subsidy {fixed} (premium {premium}) per person × {members} = {total} a year",
                fixed=fixed,
                premium=premium,
                members=size,
                total=yuan(premium_subsidy),
            ),
            because(
                above,
                "OUT_OF_POCKET_AID",
                "out-of-pocket medical costs {oop} a year above threshold {threshold}: ({oop} − {threshold}) "
                "× {ratio} = {aid}, at most {cap}",
                **cost_values,
                ratio=ratio,
                aid=yuan(cost_aid),
                cap=cap,
            ),
            because(
                target & ~above,
                "OUT_OF_POCKET_BELOW_THRESHOLD",
                "out-of-pocket medical costs {oop} a year ≤ threshold {threshold}: no cost aid",
                **cost_values,
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="medical",
            name="医疗救助",
            name_en="Medical aid",
            tier=AidTier.SPECIAL,
            department="medical_security",
            assess=assess,
            depends_on=("dibao", "tekun", "marginal", "rigid_expense"),
            description=(
                "premium subsidy (full for tekun, fixed for others) and aid for out-of-pocket costs above a "
                "threshold at a ratio, up to an annual cap"
            ),
        )
    ]
