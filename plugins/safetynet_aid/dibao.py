"""最低生活保障 (dibao): the minimum living guarantee.

Monthly amount = (standard − per-capita income) × members, with the urban or rural standard by the
household's residence (seed 003 §4: "按照家庭人均收入低于当地低保标准的差额发放").
"""

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, LowIncomeCategory
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    standard = parameters.by_residence(households.urban, "dibao.standard.urban", "dibao.standard.rural")
    per_capita = households.per_capita_income_fen
    below = per_capita < standard.values
    amount = (standard.values - per_capita) * households.size * below
    return Assessment(
        eligible=below,
        monthly_amount_fen=amount,
        reasons=[
            because(
                below,
                "INCOME_BELOW_STANDARD",
                "per-capita income {income} < dibao standard {standard}: ({standard} − {income}) × {members} = {amount}",
                income=yuan(per_capita),
                standard=standard,
                members=households.size,
                amount=yuan(amount),
            ),
            because(
                ~below,
                "INCOME_AT_OR_ABOVE_STANDARD",
                "per-capita income {income} ≥ dibao standard {standard}",
                income=yuan(per_capita),
                standard=standard,
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="dibao",
            name="最低生活保障",
            name_en="Minimum living guarantee (dibao)",
            tier=AidTier.BASIC_LIVING,
            department="civil_affairs",
            assess=assess,
            category=LowIncomeCategory.DIBAO,
        )
    ]
