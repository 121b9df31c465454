"""应急管理 (emergency management): people hit by a disaster (受灾人员) and their losses.

Signal ``kind`` is DISASTER, ``value`` the disaster as the department names it (e.g. FLOOD, FIRE) and
``amount_fen`` the loss.
"""

from safetynet import hookimpl
from safetynet.rules.records import CODE_MAX, Field, money, record_source, text

SOURCE = record_source(
    code="emergency_management",
    department="emergency_management",
    fields=[Field("disaster", text(CODE_MAX)), Field("loss", money)],
    signal=lambda row: row.signal("DISASTER", value=row["disaster"], amount_fen=row["loss"]),
)


@hookimpl
def safetynet_data_sources():
    return [SOURCE]
