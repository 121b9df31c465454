"""教育 (education): enrolments of students, for education aid and the schooling of hard-up families.

Signal ``kind`` is ENROLLED, ``value`` the stage (an EducationStage name other than NONE) and
``values["school"]`` the school.
"""

from safetynet import hookimpl
from safetynet.model import EducationStage
from safetynet.rules.records import Field, one_of, record_source, text

STAGES = tuple(stage.name for stage in EducationStage if stage is not EducationStage.NONE)

SOURCE = record_source(
    code="education",
    department="education",
    fields=[Field("stage", one_of(*STAGES)), Field("school", text(200))],
    signal=lambda row: row.signal("ENROLLED", value=row["stage"], values={"school": row["school"]}),
)


@hookimpl
def safetynet_data_sources():
    return [SOURCE]
