"""新增重度残疾 — a member newly certified as severely disabled (level 1 or 2), routed to the disabled
persons' federation.

The federation's certificates are among the data civil affairs compares (000 §5, 004 §3.3 重度残疾人);
severely disabled people are watched especially (000 §6). "New" means certified within the locality's
``warning.disability_recent_days`` (90 days by the illustrative national default).

* YELLOW: a member was certified LEVEL_1 or LEVEL_2.
* ORANGE: the household has no basic-living aid in force and its per-capita income is below
  ``marginal.income_multiple`` × the dibao standard: the member may qualify for single-person dibao
  (单人保, 002 §1, 003 §4) or the household for marginal support.

The basis is the member, the date and the level.
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because, yuan

from ._common import (
    aid_type_for,
    basic_living_in_force,
    concat,
    latest_per_member,
    level_codes,
    member_words,
    raise_where,
    signal_mask,
    whole_days,
)

CODE = "severe_disability"
SOURCE = "disabled_federation"
SEVERE = ("LEVEL_1", "LEVEL_2")


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    s = h.signals
    n = len(h)
    days = parameters["warning.disability_recent_days"]
    certified = latest_per_member(h, signal_mask(h, SOURCE, ("DISABILITY_CERTIFIED",), whole_days(days)))
    certified = certified[np.isin(s.value[certified], SEVERE)]
    member = np.zeros(n, dtype=np.int64)
    since = np.full(n, np.datetime64("NaT", "D"))
    level_name = np.full(n, "", dtype=object)
    member[s.household_index[certified]] = s.member_id[certified]
    since[s.household_index[certified]] = s.occurred_on[certified]
    level_name[s.household_index[certified]] = s.value[certified]
    raised = level_name != ""

    standard = parameters.by_residence(h.urban, "dibao.standard.urban", "dibao.standard.rural")
    multiple = parameters["marginal.income_multiple"]
    line = np.floor(standard.values * np.nan_to_num(multiple.values) + 0.5).astype(np.int64)
    per_capita = h.per_capita_income_fen
    on_aid, _ = basic_living_in_force(h, context)
    low_income = raised & ~on_aid & (per_capita < line)
    levels = raise_where(level_codes(n, WarningLevel.YELLOW), low_income, WarningLevel.ORANGE)
    subsidy = aid_type_for(context, "disabled_federation", AidTier.OTHER)
    basis = concat(member, since, level_name)
    return Detection(
        raised=raised,
        level=levels,
        member_id=np.where(raised, member, 0),
        aid_type_code=np.where(raised, subsidy, ""),
        basis=np.where(raised, basis, ""),
        evidence=[
            because(
                raised,
                "SEVERE_DISABILITY_CERTIFIED",
                "member ({who}) certified disabled {level} on {since} (disabled persons' federation, within "
                "the last {days} days)",
                who=member_words(h, member),
                level=level_name,
                since=since,
                days=days,
            ),
            because(
                low_income,
                "LOW_INCOME_WITHOUT_BASIC_AID",
                "no basic-living aid in force and per-capita income {income} < {multiple} × dibao standard "
                "{standard} = {line}: check single-person dibao (单人保) or marginal support",
                income=yuan(per_capita),
                multiple=multiple,
                standard=standard,
                line=yuan(line),
            ),
        ],
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="新增重度残疾",
            level=WarningLevel.YELLOW,
            watches="level 1–2 disability certificates within warning.disability_recent_days; ORANGE for a "
            "low-income household without basic-living aid",
            departments=("disabled_federation",),
            detect=detect,
        )
    ]
