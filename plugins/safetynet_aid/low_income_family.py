"""低收入家庭救助 (low-income family aid): a monthly cash aid per household, where a locality has it.

Tianjin (seed 003 §4): "低收入家庭每月每户救助标准为低保标准的30%". Only localities that set
``low_income_family.share_of_standard`` pay it; elsewhere the aid type answers "not set here".

Eligible: the locality sets the share; the household is not on dibao or tekun (assessed or in force);
its per-capita income (as the dibao rule counts it) is below ``marginal.income_multiple`` × the dibao
standard; its financial assets are within the dibao property limit (003 §4 "且财产状况符合救助规定").
Amount: share × standard, once per household per month (not per member).

This aid type gives cash and decides no category: the marginal aid type places the same households in
the MARGINAL category. Where the dibao rule found a single-person option (单人保) for a severely disabled
or seriously ill member, the reason SINGLE_PERSON_ALTERNATIVE repeats it: the household chooses one
of the two, they are not cumulative (003 §4).
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

from ._common import counted_income, dibao_standard, on_aid, property_test, scaled


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    share = parameters.optional("low_income_family.share_of_standard")
    offered = share.defined & (h.size > 0)
    standard = dibao_standard(h, parameters)
    multiple = parameters["marginal.income_multiple"]
    band = scaled(standard.values, multiple.values)
    per_capita = counted_income(h, parameters).per_capita_fen
    prop = property_test(h, parameters, standard)
    on = on_aid(h, earlier, "dibao", "tekun")
    considered = offered & ~on
    in_band = per_capita < band
    eligible = considered & in_band & prop.within
    amount = np.where(eligible, scaled(standard.values, np.where(share.defined, share.values, 0)), 0)
    option = earlier["dibao"].extra.get("single_person_option_fen") if "dibao" in earlier else None
    option = np.zeros(len(h), dtype=np.int64) if option is None else option
    band_values = dict(income=yuan(per_capita), multiple=multiple, standard=standard, band=yuan(band))
    return Assessment(
        eligible=eligible,
        monthly_amount_fen=amount.astype(np.int64),
        reasons=[
            because(
                ~share.defined,
                "NOT_OFFERED_HERE",
                "this locality pays no low-income family aid (low_income_family.share_of_standard not set)",
            ),
            because(
                offered & on,
                "ON_DIBAO_OR_TEKUN",
                "the household is on dibao or tekun support: low-income family aid is for households above "
                "them",
            ),
            because(
                considered & in_band,
                "INCOME_IN_LOW_INCOME_BAND",
                "per-capita income {income} < {multiple} × dibao standard {standard} = {band}",
                **band_values,
            ),
            because(
                considered & ~in_band,
                "INCOME_ABOVE_LOW_INCOME_BAND",
                "per-capita income {income} ≥ {multiple} × dibao standard {standard} = {band}",
                **band_values,
            ),
            *prop.reasons(considered),
            because(
                eligible,
                "LOW_INCOME_FAMILY_AMOUNT",
                "{share} × dibao standard {standard} = {amount} a month per household",
                share=share,
                standard=standard,
                amount=yuan(amount),
            ),
            because(
                eligible & (option > 0),
                "SINGLE_PERSON_ALTERNATIVE",
                "alternative: single-person dibao of {option} a month for the severely disabled or seriously "
                "ill member(s); not cumulative with low-income family aid — the household chooses one",
                option=yuan(option),
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="low_income_family",
            name="低收入家庭救助",
            name_en="Low-income family aid",
            tier=AidTier.BASIC_LIVING,
            department="civil_affairs",
            assess=assess,
            depends_on=("dibao", "tekun"),
            description="share × dibao standard per household per month where the locality sets the share",
        )
    ]
