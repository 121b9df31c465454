"""临时救助 (temporary aid): emergency aid for sudden, urgent or catastrophic hardship.

Seeds: a small advance (小金额先行救助) of at most ``temporary.small_advance_cap_per_person`` per person
may be given before full checks, the papers completed afterwards (001 §5.3 "每人不超过500元", 003 §14,
004 §3.3); applications for emergencies are answered within 24 hours (003 §14); larger amounts go to the
county coordination mechanism as "one matter, one discussion" (一事一议, 000 §9, 002 §5, 003 §14).

What the batch can honestly show: a household that has **no income at all and no basic-living aid in
force** (no dibao or tekun record on the date) has nothing to live on this month — the plainest sign of
the hardship temporary aid bridges. Households whose savings and securities exceed the dibao property
limit are left out (they are not without means). For those, the small advance is eligible as a one-off
of up to cap × members; the reason ONE_MATTER_ONE_DISCUSSION says that more goes through 一事一议, and
BASIC_LIVING_ASSESSED points to enrolment where dibao or tekun was assessed eligible (the advance
bridges the approval). Sudden events themselves (accident, fire, illness bills) are not facts of the
batch: aid for them follows an application, not this rule.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

from ._common import dibao_standard, on_aid, property_test


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    cap = parameters["temporary.small_advance_cap_per_person"]
    standard = dibao_standard(h, parameters)
    prop = property_test(h, parameters, standard)
    size = h.size
    income = h.monthly_income_fen
    no_income = (size > 0) & (income == 0)
    covered = h.has_active_aid("dibao") | h.has_active_aid("tekun")
    considered = no_income & ~covered
    eligible = considered & prop.within
    advance = np.where(eligible, cap.values * size, 0).astype(np.int64)
    assessed_basic = eligible & on_aid(h, earlier, "dibao", "tekun")
    return Assessment(
        eligible=eligible,
        one_off_amount_fen=advance,
        reasons=[
            because(
                eligible,
                "SMALL_ADVANCE",
                "no income and no dibao or tekun in force: small advance aid of up to {cap} per person × "
                "{members} = {advance} without full checks, papers completed afterwards",
                cap=cap,
                members=size,
                advance=yuan(advance),
            ),
            because(
                eligible,
                "ONE_MATTER_ONE_DISCUSSION",
                "more than {cap} per person goes to the county coordination mechanism as one matter, one "
                "discussion (一事一议)",
                cap=cap,
            ),
            because(
                assessed_basic,
                "BASIC_LIVING_ASSESSED",
                "assessed eligible for dibao or tekun: enrol; the advance bridges the approval",
            ),
            *prop.reasons(considered & ~prop.within),
            because(
                no_income & covered,
                "BASIC_LIVING_IN_FORCE",
                "dibao or tekun is in force: temporary aid only on application for a sudden hardship",
            ),
            because(
                (size > 0) & (income > 0),
                "HAS_INCOME",
                "household income {income} a month: no hardship signal in the facts; temporary aid on "
                "application",
                income=yuan(income),
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="temporary",
            name="临时救助",
            name_en="Temporary aid",
            tier=AidTier.EMERGENCY,
            department="civil_affairs",
            assess=assess,
            depends_on=("dibao", "tekun"),
            description=(
                "small advance up to a cap per person without full checks for households with no income and "
                "no basic-living aid; larger amounts by one matter, one discussion"
            ),
        )
    ]
