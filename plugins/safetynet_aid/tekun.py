"""特困人员救助供养 (tekun): support for people in extreme poverty.

Eligible households (every member must qualify; tekun is assessed for the household as registered):

* **Who.** Every member is under ``tekun.minor_age_limit`` (18: seed 002 §7 and 003 §5 raised it from
  16), or is aged ``tekun.elderly_age`` (60) or more, or severely disabled (level 1–2), and then has no
  labour capacity (003 §2: "无劳动能力…的城乡老年人、残疾人、未成年人").
* **No income source** (无生活来源): the household has no income at all.
* **No able legal supporter** (无法定义务人或其无履行义务能力): no member aged from the minor limit up to
  the elderly age with full or partial labour capacity. Supporters who live elsewhere (children in
  another household) are not in the batch: that check stays with the township.

Amount: support of at least ``tekun.support_multiple`` × the dibao standard per person (003 §5: "原则
上不低于低保标准的1.3倍"; paid here at that minimum), plus a care subsidy per member by self-care level
(``tekun.care_subsidy.partly_unable``, ``tekun.care_subsidy.fully_unable``; 003 §5 照料护理补贴). The
self-care level comes from the six indicators (002 §8: all able ABLE, 1–3 unable PARTLY_UNABLE, 4 or
more FULLY_UNABLE); a member never assessed gets no care subsidy until assessed. ``extra`` exposes
``self_care_level`` (the household's most dependent member, as a ``SelfCareLevel`` code; −1 none
assessed) and ``care_subsidy_fen``. Centralised or dispersed support (集中/分散供养) is not a fact of the
batch and does not change the amount here.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, LaborCapacity, LowIncomeCategory, SelfCareLevel, code_of
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, is_any, yuan

from ._common import (
    NOT_ASSESSED,
    SELF_CARE_NAMES,
    able_to_work,
    dibao_standard,
    per_member,
    scaled,
    self_care_codes,
    severely_disabled,
)


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    m = h.members
    standard = dibao_standard(h, parameters)
    minor = parameters["tekun.minor_age_limit"]
    elderly = parameters["tekun.elderly_age"]
    multiple = parameters["tekun.support_multiple"]
    partly = parameters["tekun.care_subsidy.partly_unable"]
    fully = parameters["tekun.care_subsidy.fully_unable"]

    is_minor = m.age < per_member(h, minor.values)
    is_elderly = m.age >= per_member(h, elderly.values)
    no_capacity = is_any(m.labor_capacity, LaborCapacity.NONE)
    covered = is_minor | (no_capacity & (is_elderly | severely_disabled(h)))
    supporter = ~is_minor & ~is_elderly & able_to_work(h)
    size = h.size
    has_members = size > 0
    supporters = h.count_members(supporter)
    others = h.count_members(~covered & ~supporter)
    income = h.monthly_income_fen
    eligible = has_members & (supporters == 0) & (others == 0) & (income == 0)

    per_person = scaled(standard.values, multiple.values)
    support = per_person * size

    level = self_care_codes(m.self_care_unable)
    full_care = level == code_of(SelfCareLevel.FULLY_UNABLE)
    partly_care = level == code_of(SelfCareLevel.PARTLY_UNABLE)
    n_full = h.count_members(full_care)
    n_partly = h.count_members(partly_care)
    n_unassessed = h.count_members(level == NOT_ASSESSED)
    care = n_full * fully.values + n_partly * partly.values
    worst = np.full(len(h), NOT_ASSESSED, dtype=np.int8)
    np.maximum.at(worst, m.household_index, level)
    worst_unable = np.full(len(h), -1, dtype=np.int16)
    np.maximum.at(worst_unable, m.household_index, m.self_care_unable.astype(np.int16))
    level_names = np.where(worst >= 0, SELF_CARE_NAMES[np.maximum(worst, 0)], "")

    amount = np.where(eligible, support + care, 0).astype(np.int64)
    ages = dict(minor=minor, elderly=elderly)
    return Assessment(
        eligible=eligible,
        monthly_amount_fen=amount,
        extra={"self_care_level": worst, "care_subsidy_fen": np.where(eligible, care, 0)},
        reasons=[
            because(
                eligible,
                "TEKUN_ELIGIBLE",
                "no labour capacity, no income, no able supporter: every member is under {minor}, or aged "
                "{elderly}+ or severely disabled without labour capacity",
                **ages,
            ),
            because(
                eligible,
                "SUPPORT_AMOUNT",
                "support at least {multiple} × dibao standard {standard} = {per_person} per person × "
                "{members} = {support} a month",
                multiple=multiple,
                standard=standard,
                per_person=yuan(per_person),
                members=size,
                support=yuan(support),
            ),
            because(
                eligible & (worst >= 0),
                "SELF_CARE_LEVEL",
                "self-care: {worst_unable} of 6 indicators unable (most dependent member) → {level}",
                worst_unable=worst_unable,
                level=level_names,
            ),
            because(
                eligible,
                "CARE_SUBSIDY",
                "care subsidy {care} a month: {n_full} fully unable × {fully} + {n_partly} partly unable "
                "× {partly}",
                care=yuan(care),
                n_full=n_full,
                fully=fully,
                n_partly=n_partly,
                partly=partly,
            ),
            because(
                eligible & (n_unassessed > 0),
                "SELF_CARE_NOT_ASSESSED",
                "{n} member(s) without a self-care assessment (six indicators, seed 002 §8): no care "
                "subsidy for them until assessed",
                n=n_unassessed,
            ),
            because(
                supporters > 0,
                "ABLE_SUPPORTER",
                "{n} member(s) aged {minor} to under {elderly} able to work: an able legal supporter in "
                "the household",
                n=supporters,
                **ages,
            ),
            because(
                others > 0,
                "MEMBER_NOT_COVERED",
                "{n} member(s) neither under {minor} nor aged {elderly}+ or severely disabled without "
                "labour capacity",
                n=others,
                **ages,
            ),
            because(
                has_members & (income > 0),
                "HAS_INCOME",
                "household income {income} a month: has an income source",
                income=yuan(income),
            ),
            because(~has_members, "NO_MEMBERS", "the household has no living members"),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="tekun",
            name="特困人员救助供养",
            name_en="Extreme-poverty support (tekun)",
            tier=AidTier.BASIC_LIVING,
            department="civil_affairs",
            assess=assess,
            category=LowIncomeCategory.TEKUN,
            description=(
                "no labour capacity, no income, no able supporter; minors, elderly or severely disabled; "
                "support ≥ multiple × dibao standard plus a care subsidy by self-care level"
            ),
        )
    ]
