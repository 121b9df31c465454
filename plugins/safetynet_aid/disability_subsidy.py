"""残疾人两项补贴 (the two disability subsidies), run with the disabled persons' federation.

* **Living subsidy for disabled people in hardship** (困难残疾人生活补贴,
  ``disability_subsidy.living_monthly`` per person per month): disabled members (any level) of dibao
  households; where a locality has extended it (``disability_subsidy.marginal_extension`` set to 1;
  000 §11 and 004 §3.5: "有条件的县区可将困难重度残疾人生活补贴…延伸至最低生活保障边缘家庭成员"), also
  severely disabled (level 1–2) members of marginal households. Tekun support already covers the living
  of tekun members (dibao is not paid to them either), so they are not counted here.
* **Nursing subsidy for severely disabled people** (重度残疾人护理补贴,
  ``disability_subsidy.nursing_monthly`` per person per month): level 1–2 members of any household —
  003 §13 names it without a hardship condition ("健全困难残疾人生活补贴、重度残疾人护理补贴制度").

Amounts are illustrative locality parameters.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, DisabilityLevel
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, is_any, yuan

from ._common import on_aid, per_member, severely_disabled


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    m = h.members
    living = parameters["disability_subsidy.living_monthly"]
    nursing = parameters["disability_subsidy.nursing_monthly"]
    extension = parameters.optional("disability_subsidy.marginal_extension")
    extended = extension.defined & (np.nan_to_num(extension.values) >= 1)
    dibao = on_aid(h, earlier, "dibao")
    marginal = on_aid(h, earlier, "marginal") & ~dibao
    disabled = ~is_any(m.disability, DisabilityLevel.NONE)
    severe = severely_disabled(h)
    gets_living = (disabled & per_member(h, dibao)) | (severe & per_member(h, marginal & extended))
    n_living = h.count_members(gets_living)
    n_nursing = h.count_members(severe)
    living_total = n_living * living.values
    nursing_total = n_nursing * nursing.values
    n_severe_marginal_not_extended = np.where(marginal & ~extended, n_nursing, 0)
    return Assessment(
        eligible=(n_living + n_nursing) > 0,
        monthly_amount_fen=(living_total + nursing_total).astype(np.int64),
        reasons=[
            because(
                n_living > 0,
                "LIVING_SUBSIDY",
                "{n} disabled member(s) of a dibao household, or severely disabled of a marginal household "
                "where extended: living subsidy {living} × {n} = {total} a month",
                n=n_living,
                living=living,
                total=yuan(living_total),
            ),
            because(
                n_nursing > 0,
                "NURSING_SUBSIDY",
                "{n} severely disabled member(s) (level 1–2): nursing subsidy {nursing} × {n} = {total} a month",
                n=n_nursing,
                nursing=nursing,
                total=yuan(nursing_total),
            ),
            because(
                n_severe_marginal_not_extended > 0,
                "NOT_EXTENDED_TO_MARGINAL",
                "marginal household: this locality has not extended the living subsidy to marginal households "
                "(disability_subsidy.marginal_extension {extension})",
                extension=extension,
            ),
            because(
                (h.size > 0) & (n_living + n_nursing == 0),
                "NO_SUBSIDY",
                "no disabled member of a dibao household and no severely disabled member",
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="disability_subsidy",
            name="残疾人两项补贴",
            name_en="Disability living and nursing subsidies",
            tier=AidTier.OTHER,
            department="disabled_federation",
            assess=assess,
            depends_on=("dibao", "marginal"),
            description=(
                "living subsidy for disabled members of dibao households (and marginal where extended); "
                "nursing subsidy for severely disabled members"
            ),
        )
    ]
