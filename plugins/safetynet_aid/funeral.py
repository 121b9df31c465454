"""殡葬费用减免 (funeral fee waiver) for low-income households, under local policy (000 §11, 004 §3.5;
003 §13 "实施无丧葬补助居民丧葬补贴").

It applies when a member of a low-income household has died. The assessment batch holds only living
members (the loader drops members whose ``deceased_on`` is on or before the date) and no death fact,
so the rule cannot find anyone eligible, and says so: eligible is never true, with the reason
NO_DEATH_FACT. With a household column of the latest member death (e.g. ``member_died_on``,
``datetime64[D]``) it would target dibao, tekun, marginal and rigid-expense households with a death in
the period.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    return Assessment(
        eligible=np.zeros(len(households), dtype=bool),
        reasons=[
            because(
                True,
                "NO_DEATH_FACT",
                "no member death is recorded in the assessment's facts (only living members are loaded): "
                "not assessed",
            )
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
            description="funeral fees waived for low-income households; needs a death fact",
        )
    ]
