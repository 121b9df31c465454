"""成员死亡 — a member reported deceased (public-security feed), routed to civil affairs.

Household size and any basic-living aid amount must be re-checked (dibao is paid per member, 003 §4);
the seeds list deaths among the public-security data civil affairs compares (000 §5).

* YELLOW: a member of the household died within the signal look-back window.
* ORANGE: the household has basic-living aid in force (dibao, tekun, low-income family aid…): the
  amount must be recomputed for the smaller household. The warning names that aid type.
* RED: the household also has no member left alive: the aid must stop (end it after verification).

The basis is the deceased member and the date, so one death is one warning.
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because

from ._common import (
    basic_living_in_force,
    concat,
    latest_per_member,
    level_codes,
    member_words,
    raise_where,
    signal_mask,
)

CODE = "member_deceased"
SOURCE = "public_security"


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    s = h.signals
    n = len(h)
    deaths = latest_per_member(h, signal_mask(h, SOURCE, ("DECEASED",)))  # date order
    member = np.zeros(n, dtype=np.int64)
    died_on = np.full(n, np.datetime64("NaT", "D"))
    member[s.household_index[deaths]] = s.member_id[deaths]
    died_on[s.household_index[deaths]] = s.occurred_on[deaths]
    count = np.bincount(s.household_index[deaths], minlength=n).astype(np.int64)
    raised = count > 0

    # Members the batch still counts as living, less those reported dead (if not yet recorded as such).
    reported = np.isin(h.members.member_id, s.member_id[deaths])
    alive = h.count_members(~reported)
    on_aid, aid_code = basic_living_in_force(h, context)
    on_aid &= raised
    nobody_left = on_aid & (alive == 0)
    levels = level_codes(n, WarningLevel.YELLOW)
    levels = raise_where(levels, on_aid, WarningLevel.ORANGE)
    levels = raise_where(levels, nobody_left, WarningLevel.RED)
    return Detection(
        raised=raised,
        level=levels,
        member_id=np.where(raised, member, 0),
        aid_type_code=np.where(on_aid, aid_code, ""),
        basis=np.where(raised, concat(member, died_on), ""),
        evidence=[
            because(
                raised,
                "MEMBER_DECEASED",
                "member ({who}) reported deceased on {died} by public security ({count} death(s) reported); "
                "{alive} member(s) remain: household size and aid amounts must be re-checked",
                who=member_words(h, member),
                died=died_on,
                count=count,
                alive=alive,
            ),
            because(
                on_aid & ~nobody_left,
                "BASIC_LIVING_AID_IN_FORCE",
                "{aid} is in force: recompute its amount for the smaller household",
                aid=aid_code,
            ),
            because(
                nobody_left,
                "NO_MEMBER_LEFT",
                "{aid} is in force but no member of the household is left alive: end it after verification",
                aid=aid_code,
            ),
        ],
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="家庭成员死亡",
            level=WarningLevel.YELLOW,
            watches="deaths reported by public security; ORANGE with basic-living aid in force, RED when "
            "nobody is left",
            departments=("civil_affairs",),
            detect=detect,
        )
    ]
