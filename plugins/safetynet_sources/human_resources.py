"""人力资源和社会保障 (human resources): unemployment registrations and new employment.

Signal ``kind`` is the event (UNEMPLOYED, EMPLOYED) and ``amount_fen`` the monthly wage, when given.
"""

from safetynet import hookimpl
from safetynet.rules.records import Field, money, one_of, record_source

SOURCE = record_source(
    code="human_resources",
    department="human_resources",
    fields=[Field("event", one_of("UNEMPLOYED", "EMPLOYED")), Field("monthlyWage", money, required=False)],
    signal=lambda row: row.signal(row["event"], amount_fen=row["monthlyWage"]),
)


@hookimpl
def safetynet_data_sources():
    return [SOURCE]
