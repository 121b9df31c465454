"""殡葬费用减免 (funeral fee waiver, 惠民殡葬) for low-income households. A one-off amount.

Seeds 000 §11 and 004 §3.5: "对符合条件的最低生活保障对象、特困人员、最低生活保障边缘家庭成员、刚性支出
困难家庭成员，可根据当地救助政策给予…殡葬费用减免".

The facts are the public-security feed's DECEASED signals (members already recorded as dead are no
longer in the batch, but their death signals are):

* **Eligible**: a dibao, tekun, marginal or rigid-expense household (assessed or in force on the date,
  so a tekun household whose only member died still counts through its aid in force) with a member
  reported deceased within the last ``funeral.recent_days`` days.
* **Amount**: one-off, basic funeral fees waived up to ``funeral.waiver_per_death`` for each deceased
  member (distinct members: a death reported twice counts once).

No seed states the amount or the window: they are locality parameters (illustrative national defaults).
Tianjin's funeral subsidy for residents without a funeral grant (003 §13 "无丧葬补助居民丧葬补贴") needs
to know who has such a grant, which no feed says; it is not assessed here. Without any low-income aid
type installed, only low-income aid in force on the date counts.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

from ._common import LOW_INCOME, on_aid, recent_signals

SOURCE = "public_security"


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    deaths = recent_signals(h, SOURCE, "DECEASED", parameters["funeral.recent_days"])
    waiver = parameters["funeral.waiver_per_death"]
    died = deaths.members > 0
    target = on_aid(h, earlier, *LOW_INCOME)
    eligible = died & target
    amount = np.where(eligible, waiver.values * deaths.members, 0).astype(np.int64)
    death_values = dict(deaths=deaths.members, days=deaths.days, latest=deaths.latest_on)
    return Assessment(
        eligible=eligible,
        one_off_amount_fen=amount,
        reasons=[
            because(
                ~died,
                "NO_DEATH_FACT",
                "no member death reported by public security within the last {days} days",
                days=deaths.days,
            ),
            because(
                died,
                "MEMBER_DECEASED",
                "{deaths} member(s) reported deceased by public security within the last {days} days (latest on "
                "{latest})",
                **death_values,
            ),
            because(
                died & ~target,
                "NOT_LOW_INCOME",
                "not a dibao, tekun, marginal or rigid-expense household",
            ),
            because(
                eligible,
                "FUNERAL_FEES_WAIVED",
                "basic funeral fees waived up to {waiver} per deceased member × {deaths} = {amount}",
                waiver=waiver,
                deaths=deaths.members,
                amount=yuan(amount),
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="funeral",
            name="殡葬费用减免",
            name_en="Funeral fee waiver",
            tier=AidTier.OTHER,
            department="civil_affairs",
            assess=assess,
            depends_on=LOW_INCOME,
            description="funeral fees waived up to an amount per deceased member of a low-income household",
        )
    ]
