"""教育救助 (education aid), run by the education department. Annual amounts per student, as one-off.

For children and students of dibao, tekun, marginal and rigid-expense households (003 §9, 004 §3.2;
000 §8 "在园幼儿、在校学生"), by each member's education stage:

* PRESCHOOL — preschool fee reduction or grant (学前教育资助): ``education.grant_annual.preschool``;
* PRIMARY, JUNIOR_SECONDARY — compulsory education "two exemptions, one subsidy" (两免一补), living
  subsidy for students from hard-up families: ``education.grant_annual.compulsory``;
* SENIOR_SECONDARY, VOCATIONAL — fee waiver and national grant (免学费、国家助学金):
  ``education.grant_annual.senior_secondary``;
* UNIVERSITY — grants, with loans and work-study besides (国家助学金、助学贷款、勤工助学):
  ``education.grant_annual.university``.

All amounts are illustrative locality parameters (yuan per student per year).
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, EducationStage
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, is_any, yuan

from ._common import LOW_INCOME, on_aid, per_member

STAGES = (
    ("preschool", "PRESCHOOL_GRANT", "preschool child(ren)", (EducationStage.PRESCHOOL,)),
    (
        "compulsory",
        "COMPULSORY_SUBSIDY",
        "compulsory-education pupil(s) (two exemptions, one subsidy)",
        (EducationStage.PRIMARY, EducationStage.JUNIOR_SECONDARY),
    ),
    (
        "senior_secondary",
        "SENIOR_SECONDARY_GRANT",
        "senior-secondary or vocational student(s) (fee waiver and grant)",
        (EducationStage.SENIOR_SECONDARY, EducationStage.VOCATIONAL),
    ),
    ("university", "UNIVERSITY_GRANT", "university student(s) (grant; loans and work-study)", (EducationStage.UNIVERSITY,)),
)


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    size = h.size
    target = (size > 0) & on_aid(h, earlier, *LOW_INCOME)
    total = np.zeros(len(h), dtype=np.int64)
    students = np.zeros(len(h), dtype=np.int32)
    reasons = []
    for key, code, words, stages in STAGES:
        grant = parameters[f"education.grant_annual.{key}"]
        at_stage = is_any(h.members.education_stage, *stages)
        count = h.count_members(at_stage)
        amount = h.sum_members(np.where(at_stage, per_member(h, grant.values), 0).astype(np.int64))
        total += np.where(target, amount, 0)
        students += count
        reasons.append(
            because(
                target & (count > 0),
                code,
                "{count} " + words + " × {grant} = {amount} a year",
                count=count,
                grant=grant,
                amount=yuan(amount),
            )
        )
    eligible = target & (students > 0)
    reasons += [
        because((size > 0) & ~target, "NOT_LOW_INCOME", "not a dibao, tekun, marginal or rigid-expense household"),
        because(target & (students == 0), "NO_STUDENTS", "no member is in preschool or at school"),
    ]
    return Assessment(eligible=eligible, one_off_amount_fen=total, reasons=reasons)


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="education",
            name="教育救助",
            name_en="Education aid",
            tier=AidTier.SPECIAL,
            department="education",
            assess=assess,
            depends_on=("dibao", "tekun", "marginal", "rigid_expense"),
            description="per student by stage (preschool, compulsory, senior secondary/vocational, university)",
        )
    ]
