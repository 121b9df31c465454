"""政策落实不到位 — eligible for special aid that is not on the aid chain, routed to the aid type's department.

For each installed special aid type (medical, education, housing, employment…; disaster aid is left to
the disaster rule): the household is assessed eligible and no aid of that type is in force on its aid
chain. Seed 004 §2.4: "发现社会救助政策落实不到位的，要尽快按规定落实或…转交（办）相关社会救助管理部门
落实"; the push goes by difficulty type to the responsible department (DOMAIN.md §3, step 4).

* BLUE: special aid not delivered.
* YELLOW: the household has basic-living aid in force (a dibao or tekun household is the core target of
  special aid, 000 §8).

Routed to the department of each aid type not delivered (medical → medical_security, schooling →
education, …); the warning names the first of them.
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because

from ._common import (
    aid_types,
    assessments,
    basic_living_in_force,
    departments_column,
    first_code,
    join_codes,
    level_codes,
    raise_where,
    reasons_of,
)

CODE = "policy_not_delivered"
#: Special aid of these departments is watched by its own rule (disaster → the disaster rule).
LEFT_TO_OTHER_RULES = ("emergency_management",)


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    n = len(h)
    catalogue = aid_types(context)
    results = assessments(context)
    missing = []
    for code in results:  # assessment order
        aid = catalogue.get(code)
        if aid is None or aid.tier is not AidTier.SPECIAL or aid.department in LEFT_TO_OTHER_RULES:
            continue
        mask = np.asarray(results[code].eligible, dtype=bool) & ~h.has_active_aid(code)
        if mask.any():
            missing.append((code, mask))
    raised = np.zeros(n, dtype=bool)
    evidence = []
    for code, mask in missing:
        aid = catalogue[code]
        raised |= mask
        evidence.append(
            because(
                mask,
                "SPECIAL_AID_NOT_DELIVERED",
                "assessed eligible for {name} ({aid}, {department}) but no {aid} aid is in force on the "
                "aid chain",
                name=aid.name,
                aid=code,
                department=aid.department,
            )
        )
        evidence.extend(reasons_of(results[code], mask))
    on_basic, _ = basic_living_in_force(h, context)
    core = raised & on_basic
    evidence.append(because(core, "BASIC_LIVING_HOUSEHOLD", "the household has basic-living aid in force"))
    return Detection(
        raised=raised,
        level=raise_where(level_codes(n, WarningLevel.BLUE), core, WarningLevel.YELLOW),
        aid_type_code=first_code(missing, n),
        departments=departments_column([(catalogue[code].department, mask) for code, mask in missing], n),
        basis=join_codes(missing, n),
        evidence=evidence,
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="专项救助政策落实不到位",
            level=WarningLevel.BLUE,
            watches="assessed eligible for special aid (medical, education, housing, employment) with none in "
            "force; YELLOW for households on basic-living aid; routed to each aid type's department",
            departments=(),
            detect=detect,
        )
    ]
