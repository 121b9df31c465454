"""医疗保障 (medical insurance): settled inpatient and outpatient bills, with the part the patient paid.

Signal ``kind`` is the bill's kind (INPATIENT, OUTPATIENT_CHRONIC, OUTPATIENT) and ``amount_fen`` the
out-of-pocket part, what the household bore (large medical bills drive rigid-expense and warning rules);
the total cost is kept as evidence in ``values["totalCostFen"]`` (integer fen, like every stored amount).
"""

from safetynet import hookimpl
from safetynet.model import Signal, format_yuan
from safetynet.rules.records import Field, FieldError, Row, money, one_of, record_source

KINDS = ("INPATIENT", "OUTPATIENT_CHRONIC", "OUTPATIENT")


def to_signal(row: Row) -> Signal:
    total, own = row["totalCost"], row["outOfPocket"]
    if own > total:
        raise FieldError(
            f"outOfPocket: {format_yuan(own)} is more than totalCost {format_yuan(total)}; "
            "expected at most the total cost"
        )
    return row.signal(row["kind"], amount_fen=own, values={"totalCostFen": total})


SOURCE = record_source(
    code="medical_insurance",
    department="medical_security",
    fields=[Field("kind", one_of(*KINDS)), Field("totalCost", money), Field("outOfPocket", money)],
    signal=to_signal,
)


@hookimpl
def safetynet_data_sources():
    return [SOURCE]
