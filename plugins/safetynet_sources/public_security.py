"""公安 (public security): deaths and criminal penalties from household registration and the courts.

Signal ``kind`` is the event (DECEASED, CRIMINAL_PENALTY).
"""

from safetynet import hookimpl
from safetynet.rules.records import Field, one_of, record_source

SOURCE = record_source(
    code="public_security",
    department="public_security",
    fields=[Field("event", one_of("DECEASED", "CRIMINAL_PENALTY"))],
    signal=lambda row: row.signal(row["event"]),
)


@hookimpl
def safetynet_data_sources():
    return [SOURCE]
