"""残疾人联合会 (disabled persons' federation): disability certificates (残疾人证) issued or re-graded.

Signal ``kind`` is DISABILITY_CERTIFIED and ``value`` the level as the API names it, LEVEL_1 … LEVEL_4
(1 and 2 are severe), from the record's ``level`` 1–4.
"""

from safetynet import hookimpl
from safetynet.model import DisabilityLevel
from safetynet.rules.records import Field, integer, record_source

LEVELS = {number: DisabilityLevel[f"LEVEL_{number}"].name for number in range(1, 5)}

SOURCE = record_source(
    code="disabled_federation",
    department="disabled_federation",
    fields=[Field("level", integer(1, 4))],
    signal=lambda row: row.signal("DISABILITY_CERTIFIED", value=LEVELS[row["level"]]),
)


@hookimpl
def safetynet_data_sources():
    return [SOURCE]
