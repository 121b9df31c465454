"""住房救助 (housing aid), run by the housing department.

For dibao, tekun, marginal and rigid-expense households (000 §8, 003 §10, 004 §3.2; the seeds name
*dispersed* tekun — centralised support includes housing — but the batch does not say which, so every
tekun household is targeted), assessed or in force:

* **Urban**, owning no house (no HOUSE asset): a rent subsidy of ``housing.urban_rent_subsidy_monthly``
  per household per month (租赁补贴; public rental housing, 公租房, is the in-kind alternative).
* **Rural**: priority for dilapidated-house renovation (农村危房改造), a one-off grant of
  ``housing.rural_renovation_grant`` per household. Whether the house is unsafe is the housing
  department's appraisal; the batch holds no house-condition fact, so the reason says the grant is
  subject to it.

Amounts are illustrative locality parameters; seed 004 leaves graded amounts to the counties.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, AssetKind
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

from ._common import LOW_INCOME, on_aid


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    rent = parameters["housing.urban_rent_subsidy_monthly"]
    renovation = parameters["housing.rural_renovation_grant"]
    size = h.size
    target = (size > 0) & on_aid(h, earlier, *LOW_INCOME)
    house = h.asset_fen(AssetKind.HOUSE)
    urban_renting = target & h.urban & (house == 0)
    urban_owner = target & h.urban & (house > 0)
    rural = target & ~h.urban
    return Assessment(
        eligible=urban_renting | rural,
        monthly_amount_fen=np.where(urban_renting, rent.values, 0).astype(np.int64),
        one_off_amount_fen=np.where(rural, renovation.values, 0).astype(np.int64),
        reasons=[
            because((size > 0) & ~target, "NOT_LOW_INCOME", "not a dibao, tekun, marginal or rigid-expense household"),
            because(
                urban_renting,
                "URBAN_RENT_SUBSIDY",
                "urban low-income household owning no house: rent subsidy {rent} a month (or public rental "
                "housing)",
                rent=rent,
            ),
            because(
                urban_owner,
                "OWNS_HOUSE",
                "urban household owning a house (value {house}): no rent subsidy",
                house=yuan(house),
            ),
            because(
                rural,
                "RURAL_RENOVATION_PRIORITY",
                "rural low-income household: priority for dilapidated-house renovation, grant {grant}, "
                "subject to the housing department's safety appraisal (no house-condition fact recorded)",
                grant=renovation,
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="housing",
            name="住房救助",
            name_en="Housing aid",
            tier=AidTier.SPECIAL,
            department="housing",
            assess=assess,
            depends_on=("dibao", "tekun", "marginal", "rigid_expense"),
            description="urban rent subsidy for households owning no house; rural dilapidated-house renovation",
        )
    ]
