"""最低生活保障边缘家庭 (dibao-marginal households): a category, no cash of its own.

A household is marginal when it is not on dibao or tekun (assessed or in force), its per-capita income
(as the dibao rule counts it) is below ``marginal.income_multiple`` × the dibao standard (1.5: the
national rule, as in seed 003 §4 "低保标准1.5倍"), and its financial assets are within the dibao property
limit (standard × members × ``property.financial_assets_months``). The category opens special aid
(medical, education, housing, employment; 000 §8, 004 §3.2) and an annual review (000 §3).
"""

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, LowIncomeCategory
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

from ._common import counted_income, dibao_standard, on_aid, property_test, scaled


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    standard = dibao_standard(h, parameters)
    multiple = parameters["marginal.income_multiple"]
    band = scaled(standard.values, multiple.values)
    per_capita = counted_income(h, parameters).per_capita_fen
    prop = property_test(h, parameters, standard)
    considered = (h.size > 0) & ~on_aid(h, earlier, "dibao", "tekun")
    in_band = per_capita < band
    eligible = considered & in_band & prop.within
    band_values = dict(income=yuan(per_capita), multiple=multiple, standard=standard, band=yuan(band))
    return Assessment(
        eligible=eligible,
        reasons=[
            because(
                (h.size > 0) & ~considered,
                "ON_DIBAO_OR_TEKUN",
                "the household is on dibao or tekun support, not marginal",
            ),
            because(
                considered & in_band,
                "INCOME_IN_MARGINAL_BAND",
                "per-capita income {income} < {multiple} × dibao standard {standard} = {band}",
                **band_values,
            ),
            because(
                considered & ~in_band,
                "INCOME_ABOVE_MARGINAL_BAND",
                "per-capita income {income} ≥ {multiple} × dibao standard {standard} = {band}",
                **band_values,
            ),
            *prop.reasons(considered),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="marginal",
            name="低保边缘家庭",
            name_en="Dibao-marginal household",
            tier=AidTier.BASIC_LIVING,
            department="civil_affairs",
            assess=assess,
            depends_on=("dibao", "tekun"),
            category=LowIncomeCategory.MARGINAL,
            description="not on dibao/tekun; per-capita income < multiple × dibao standard; property within limits",
        )
    ]
