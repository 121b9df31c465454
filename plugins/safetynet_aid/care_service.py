"""服务类救助 (care services): visits and daily care for those who cannot look after themselves.

Seeds 000 §10, 004 §3.4, 003 §3: "为低收入人口中生活不能自理的老年人、未成年人、残疾人等提供必要的访视、
照料服务" — for members of dibao, tekun, marginal and rigid-expense households (assessed or in force)
whose self-care level, from the six indicators (002 §8), is PARTLY_UNABLE or FULLY_UNABLE. Services,
no cash: visits, daily care, escort to hospital, psychological support, rehabilitation, respite
(001 §5.4). ``extra["members_needing_care"]`` counts them. A severely disabled member with no
self-care assessment is pointed out (SELF_CARE_NOT_ASSESSED), since the assessment decides the care.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, SelfCareLevel, code_of
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because

from ._common import LOW_INCOME, NOT_ASSESSED, on_aid, self_care_codes, severely_disabled


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    size = h.size
    target = (size > 0) & on_aid(h, earlier, *LOW_INCOME)
    level = self_care_codes(h.members.self_care_unable)
    n_full = h.count_members(level == code_of(SelfCareLevel.FULLY_UNABLE))
    n_partly = h.count_members(level == code_of(SelfCareLevel.PARTLY_UNABLE))
    needing = n_full + n_partly
    unassessed_severe = h.count_members((level == NOT_ASSESSED) & severely_disabled(h))
    eligible = target & (needing > 0)
    return Assessment(
        eligible=eligible,
        extra={"members_needing_care": np.where(target, needing, 0)},
        reasons=[
            because((size > 0) & ~target, "NOT_LOW_INCOME", "not a dibao, tekun, marginal or rigid-expense household"),
            because(
                eligible,
                "CANNOT_LOOK_AFTER_SELF",
                "{n_full} member(s) fully and {n_partly} partly unable to look after themselves: visits and "
                "daily care",
                n_full=n_full,
                n_partly=n_partly,
            ),
            because(
                target & (needing == 0),
                "NO_CARE_NEED_RECORDED",
                "no member is recorded as unable to look after themselves",
            ),
            because(
                target & (unassessed_severe > 0),
                "SELF_CARE_NOT_ASSESSED",
                "{n} severely disabled member(s) without a self-care assessment (six indicators): assess them",
                n=unassessed_severe,
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="care_service",
            name="服务类社会救助",
            name_en="Care services",
            tier=AidTier.SERVICE,
            department="civil_affairs",
            assess=assess,
            depends_on=("dibao", "tekun", "marginal", "rigid_expense"),
            description="visits and daily care for members partly or fully unable to look after themselves",
        )
    ]
