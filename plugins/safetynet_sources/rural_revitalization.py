"""乡村振兴 (rural revitalisation): the return-to-poverty watch list (防止返贫监测对象), imported as decided.

Signal ``kind`` is the event (WATCH_START, WATCH_END); the latest one says whether a person is watched.
"""

from safetynet import hookimpl
from safetynet.rules.records import Field, one_of, record_source

SOURCE = record_source(
    code="rural_revitalization",
    department="rural_revitalization",
    fields=[Field("event", one_of("WATCH_START", "WATCH_END"))],
    signal=lambda row: row.signal(row["event"]),
)


@hookimpl
def safetynet_data_sources():
    return [SOURCE]
