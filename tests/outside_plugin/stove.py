"""炉具补贴: a stove subsidy of a tenth of the local dibao standard each month, for urban households only."""

from safetynet import hookimpl
from safetynet.model import AidTier, AidType
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

#: Each call's batch size, so tests can see that the rule runs once per batch, not once per household.
BATCH_SIZES: list[int] = []


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    BATCH_SIZES.append(len(households))
    standard = parameters["dibao.standard.urban"]
    urban = households.urban
    allowance = standard.values // 10 * urban
    return Assessment(
        eligible=urban,
        monthly_amount_fen=allowance,
        reasons=[
            because(
                urban,
                "URBAN_HEATING",
                "urban household: a tenth of {standard} is {allowance}",
                standard=standard,
                allowance=yuan(allowance),
            ),
            because(~urban, "RURAL_OWN_FUEL", "rural households heat with their own fuel"),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="stove_subsidy",
            name="炉具补贴",
            name_en="Stove subsidy",
            tier=AidTier.OTHER,
            department="civil_affairs",
            assess=assess,
        )
    ]
