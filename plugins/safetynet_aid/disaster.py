"""受灾人员救助 (aid to disaster victims), run by the emergency management department.

The seeds (000 §8, 003 §12, 004 §3.2) give low-income households priority in emergency-period,
transition-period, drought and winter-spring hardship aid and in rebuilding houses destroyed by disaster.
Whether a household suffered a disaster, and its loss, comes from the emergency_management feed
(``disaster``, ``loss``), which the assessment batch does not carry yet. Without that fact this rule
cannot say that anyone is eligible, and says so: eligible is never true, with the reason
NO_DISASTER_FACT. With a batch column of the recorded loss (e.g. ``disaster_loss_fen`` and
``disaster_on``) it would target low-income households with a loss in the period.
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
                "NO_DISASTER_FACT",
                "no disaster loss is recorded in the household's facts (the emergency-management feed is "
                "not part of the assessment yet): not assessed",
            )
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
            description="emergency, transition, drought and winter-spring aid, rebuilding; needs a disaster fact",
        )
    ]
