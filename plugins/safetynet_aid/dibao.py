"""最低生活保障 (dibao): the minimum living guarantee.

Rule, for each household (urban or rural standard by residence):

* **Income.** Per-capita monthly income is the household's income after the employment-cost deduction
  (``dibao.employment_cost_deduction`` per employed member of a household with dibao in force, at most
  that member's earned income; seeds 000 §8, 003 §11, 004 §3.2 grant it to "已就业的低保对象"),
  divided by the living members.
* **Amount** = (standard − per-capita income) × members (003 §4: "根据家庭成员人均收入与低保标准的实际
  差额发放低保金"), when per-capita income is below the standard and property is within limits.
* **Property.** Savings + securities ≤ standard × members × ``property.financial_assets_months``;
  above it the household is not eligible (003 §4 "且符合财产状况规定").
* **Tekun instead.** Where tekun support is assessed or in force, dibao is not also paid (the two are
  alternatives of basic-living aid; tekun support is at least 1.3× the standard, 003 §5).
* **Single-person option (单人保).** A household whose per-capita income is between the standard and
  ``marginal.income_multiple`` × standard, with property within limits and a severely disabled
  (level 1–2) or seriously ill member, may instead have that member apply as a one-person household
  (002 §1, 003 §4, 000 §7). The household stays ineligible here; the reason SINGLE_PERSON_OPTION and
  ``extra["single_person_option_fen"]`` give the option's amount, the sum over such members of
  (standard − the member's own income). It is not cumulative with low-income family aid (003 §4
  "按照单人户申请低保的,不叠加享受分类救助政策"); the low_income_family rule repeats the warning.
* **Gradual exit (渐退期).** A household with dibao in force and an employed member whose per-capita
  income is now at or above the standard stays eligible while fewer than ``dibao.gradual_exit_months``
  whole months have passed since its income changed (``income_changed_on``): 6 in Zhangye, Qingyang and
  Tianjin (000 §8, 004 §3.2, 003 §11), up to 18 in Yongning (002 §2). After that it is not eligible
  (GRADUAL_EXIT_ENDED: terminate after verification). A dibao household without an employed member
  has no exit period (the seeds tie it to employment).

  *Amount during the exit period — the choice made here.* No seed fixes it: 000/003/004 only "give" a
  gradual-exit period, and 002 §2 says the household is cleared when it ends ("到期后予以清退"), i.e.
  the dibao it already has continues until then. The payment therefore stays what the dibao aid record
  in force says; this rule does not recompute it. Since the gap to the standard is now zero,
  ``monthly_amount_fen`` is 0 during the exit and the GRADUAL_EXIT reason says the recorded payment
  continues and when the period ends (``extra["gradual_exit_ends_on"]``). The batch does not carry the
  record's amount; with it (a per-aid-type ``aid_monthly_amount_fen`` column) the rule would return that
  amount instead. 002 §2's early exit "next month once income or employment is stable" needs a stability
  fact the batch lacks, so the full period is granted.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, Employment, Illness, LowIncomeCategory
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, is_any, yuan

from ._common import (
    add_months,
    counted_income,
    dibao_standard,
    on_aid,
    per_member,
    property_test,
    scaled,
    severely_disabled,
)


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    standard = dibao_standard(h, parameters)
    income = counted_income(h, parameters)
    per_capita = income.per_capita_fen
    size = h.size
    has_members = size > 0
    below = has_members & (per_capita < standard.values)
    prop = property_test(h, parameters, standard)
    tekun = has_members & on_aid(h, earlier, "tekun")
    gap = below & prop.within & ~tekun
    amount = np.where(gap, (standard.values - per_capita) * size, 0).astype(np.int64)

    # 渐退期: dibao in force, a member employed, income now at or above the standard.
    exit_months = parameters["dibao.gradual_exit_months"]
    changed = h.income_changed_on
    if changed is None:
        changed = np.full(len(h), np.datetime64("NaT"), dtype="datetime64[D]")
    elapsed = h.months_since(changed)
    employed = h.any_member(is_any(h.members.employment, Employment.EMPLOYED))
    above_in_force = has_members & ~below & h.has_active_aid("dibao") & prop.within & ~tekun
    within_exit = (elapsed >= 0) & (elapsed < exit_months.values)
    exiting = above_in_force & employed & within_exit
    exit_over = above_in_force & employed & ~within_exit
    no_exit = above_in_force & ~employed
    exit_ends = add_months(changed, exit_months.values)

    # 单人保: a severely disabled or seriously ill member of a household in the 1x–1.5x band.
    multiple = parameters["marginal.income_multiple"]
    band = scaled(standard.values, multiple.values)
    in_band = has_members & ~below & (per_capita < band) & prop.within & ~tekun & ~exiting
    m = h.members
    severe = severely_disabled(h) | is_any(m.illness, Illness.SERIOUS)
    own_gap = np.maximum(per_member(h, standard.values) - m.monthly_income_fen, 0)
    candidate = severe & per_member(h, in_band) & (own_gap > 0)
    option = h.sum_members(np.where(candidate, own_gap, 0).astype(np.int64))
    option_members = h.count_members(candidate)
    has_option = option > 0

    eligible = gap | exiting
    per_capita_yuan = yuan(per_capita)
    return Assessment(
        eligible=eligible,
        monthly_amount_fen=amount,
        extra={
            "per_capita_counted_income_fen": per_capita,
            "single_person_option_fen": option,
            "gradual_exit_ends_on": np.where(exiting, exit_ends, np.datetime64("NaT")),
        },
        reasons=[
            because(
                below,
                "INCOME_BELOW_STANDARD",
                "per-capita income {income} < dibao standard {standard}",
                income=per_capita_yuan,
                standard=standard,
            ),
            because(
                gap,
                "GAP_TO_STANDARD",
                "({standard} − {income}) × {members} members = {amount} a month",
                standard=standard,
                income=per_capita_yuan,
                members=size,
                amount=yuan(amount),
            ),
            because(
                has_members & ~below,
                "INCOME_AT_OR_ABOVE_STANDARD",
                "per-capita income {income} ≥ dibao standard {standard}",
                income=per_capita_yuan,
                standard=standard,
            ),
            because(
                income.deducted_fen > 0,
                "EMPLOYMENT_COST_DEDUCTED",
                "employment costs {deducted} deducted from earned income ({deduction} per employed member "
                "of a dibao household, at most their earnings): income {total} counted as {counted}",
                deducted=yuan(income.deducted_fen),
                deduction=income.deduction,
                total=yuan(income.total_fen),
                counted=yuan(income.counted_fen),
            ),
            *prop.reasons(has_members),
            because(
                tekun,
                "TEKUN_SUPPORT_INSTEAD",
                "tekun support is assessed or in force: dibao is not paid as well (not cumulative)",
            ),
            because(
                exiting,
                "GRADUAL_EXIT",
                "gradual exit: dibao in force and a member employed, per-capita income {income} ≥ standard "
                "{standard} since {changed}; dibao continues {months} months, until {ends} (the payment on "
                "the dibao aid record continues; no new gap is computed)",
                income=per_capita_yuan,
                standard=standard,
                changed=changed,
                months=exit_months,
                ends=exit_ends,
            ),
            because(
                exit_over,
                "GRADUAL_EXIT_ENDED",
                "gradual exit of {months} months after income rose on {changed} ended on {ends}: "
                "terminate dibao after verification",
                months=exit_months,
                changed=changed,
                ends=exit_ends,
            ),
            because(
                no_exit,
                "NO_GRADUAL_EXIT",
                "dibao in force but no member is employed: the gradual exit is for working households; "
                "terminate dibao after verification",
            ),
            because(
                has_option,
                "SINGLE_PERSON_OPTION",
                "single-person dibao option (单人保) for {count} severely disabled or seriously ill "
                "member(s): {option} a month (dibao standard {standard} less each one's own income), as "
                "per-capita income {income} is ≥ the standard and < {multiple} × standard = {band}; an "
                "alternative to low-income family aid, not cumulative with it",
                count=option_members,
                option=yuan(option),
                standard=standard,
                income=per_capita_yuan,
                multiple=multiple,
                band=yuan(band),
            ),
            because(~has_members, "NO_MEMBERS", "the household has no living members"),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="dibao",
            name="最低生活保障",
            name_en="Minimum living guarantee (dibao)",
            tier=AidTier.BASIC_LIVING,
            department="civil_affairs",
            assess=assess,
            depends_on=("tekun",),
            category=LowIncomeCategory.DIBAO,
            description=(
                "(standard − per-capita income) × members; property limit; employment-cost deduction; "
                "gradual exit; single-person option for severely disabled or seriously ill members"
            ),
        )
    ]
