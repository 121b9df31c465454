"""取暖救助 (heating aid), where a locality has it.

Seeds 000 §11 and 004 §3.5: "可根据当地救助政策给予取暖救助" for dibao, tekun, marginal and rigid-expense
households; 003 §13 "落实困难群众取暖…补贴政策". No seed states an amount, so the aid is paid only where
a locality sets ``heating.allowance_per_household`` (yuan per household per heating season, given as
a one-off); elsewhere the answer is NOT_OFFERED_HERE.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because

from ._common import LOW_INCOME, on_aid


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    allowance = parameters.optional("heating.allowance_per_household")
    offered = allowance.defined & (h.size > 0)
    target = on_aid(h, earlier, *LOW_INCOME)
    eligible = offered & target
    return Assessment(
        eligible=eligible,
        one_off_amount_fen=np.where(eligible, np.nan_to_num(allowance.values), 0).astype(np.int64),
        reasons=[
            because(
                ~allowance.defined,
                "NOT_OFFERED_HERE",
                "this locality sets no heating aid (heating.allowance_per_household not set)",
            ),
            because(
                eligible,
                "HEATING_ALLOWANCE",
                "low-income household: heating allowance {allowance} for the heating season",
                allowance=allowance,
            ),
            because(
                offered & ~target,
                "NOT_LOW_INCOME",
                "not a dibao, tekun, marginal or rigid-expense household",
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="heating",
            name="取暖救助",
            name_en="Heating aid",
            tier=AidTier.OTHER,
            department="civil_affairs",
            assess=assess,
            depends_on=("dibao", "tekun", "marginal", "rigid_expense"),
            description="heating allowance per household per season where the locality sets one",
        )
    ]
