"""成员新近失业 — a member newly registered unemployed (human-resources feed), routed to human resources.

A member whose latest human-resources record is UNEMPLOYED, dated within the locality's
``warning.unemployment_recent_days`` (90 days by the illustrative national default), and not followed by
an EMPLOYED record. Seeds 000 §5 and 004 §3.3 list "登记失业人员" among the data civil affairs compares.

* YELLOW: a member lost work.
* ORANGE: no earned income remains once the newly unemployed members' own earnings are left out — a
  zero-employment household (零就业家庭, whose clearing is an employment-aid duty, 000 §8, 003 §11).

The warning names the most recent such member; the basis is that member and date.
"""

from __future__ import annotations

import numpy as np

from safetynet import hookimpl
from safetynet.model import WarningLevel, WarningRule
from safetynet.rules import Detection, HouseholdBatch, Parameters, because, yuan

from ._common import (
    aid_type_for,
    concat,
    latest_per_member,
    level_codes,
    member_words,
    raise_where,
    signal_mask,
    whole_days,
)

CODE = "member_unemployed"
SOURCE = "human_resources"


def detect(households: HouseholdBatch, parameters: Parameters, context: dict) -> Detection:
    h = households
    s = h.signals
    n = len(h)
    days = parameters["warning.unemployment_recent_days"]
    window = whole_days(days)
    day = np.datetime64(h.as_of, "D")
    latest = latest_per_member(h, signal_mask(h, SOURCE, ("UNEMPLOYED", "EMPLOYED")))
    recent = latest[
        (s.kind[latest] == "UNEMPLOYED")
        & (s.occurred_on[latest] > day - window[s.household_index[latest]].astype("timedelta64[D]"))
    ]
    # ``recent`` is in date order: the last one written per household is its most recent.
    member = np.zeros(n, dtype=np.int64)
    since = np.full(n, np.datetime64("NaT", "D"))
    member[s.household_index[recent]] = s.member_id[recent]
    since[s.household_index[recent]] = s.occurred_on[recent]
    count = np.bincount(s.household_index[recent], minlength=n).astype(np.int64)
    raised = count > 0

    m = h.members
    lost = np.isin(m.member_id, s.member_id[recent])
    remaining_earned = h.sum_members(np.where(lost, 0, m.earned_income_fen).astype(np.int64))
    zero_employment = raised & (remaining_earned == 0)
    levels = raise_where(level_codes(n, WarningLevel.YELLOW), zero_employment, WarningLevel.ORANGE)
    employment_aid = aid_type_for(context, "human_resources")
    return Detection(
        raised=raised,
        level=levels,
        member_id=np.where(raised, member, 0),
        aid_type_code=np.where(raised, employment_aid, ""),
        basis=np.where(raised, concat(member, since), ""),
        evidence=[
            because(
                raised,
                "NEWLY_UNEMPLOYED",
                "member ({who}) registered unemployed on {since} (human-resources record within the last "
                "{days} days, no later employment record); {count} member(s) newly unemployed",
                who=member_words(h, member),
                since=since,
                days=days,
                count=count,
            ),
            because(
                zero_employment,
                "ZERO_EMPLOYMENT_HOUSEHOLD",
                "no earned income remains without the newly unemployed member(s) (remaining earnings "
                "{remaining} a month): zero-employment household (零就业家庭)",
                remaining=yuan(remaining_earned),
            ),
        ],
    )


@hookimpl
def safetynet_warning_rules():
    return [
        WarningRule(
            code=CODE,
            name="成员新近失业",
            level=WarningLevel.YELLOW,
            watches="members registered unemployed within warning.unemployment_recent_days (human-resources "
            "feed); ORANGE when no earned income remains",
            departments=("human_resources",),
            detect=detect,
        )
    ]
