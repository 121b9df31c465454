"""刚性支出困难家庭 (households in hardship from rigid spending): a category, no cash of its own.

National rule of 2024 (DOMAIN.md §1; the national text is not among the seeds), applied as follows:

* not on dibao, tekun or marginal (assessed or in force);
* annual per-capita income (monthly income × 12 ÷ members) below
  ``rigid_expense.disposable_income_annual``, last year's local per-capita disposable income;
* rigid spending over the past 12 months — medical, education and disability rehabilitation, plus
  living costs counted at most up to dibao standard × members × 12 — above
  ``rigid_expense.spending_share`` of the household's annual income (local shares 60%–90%).

Rigid expenses are the household's declared annual amounts (``rigid_expense_annual_fen``); income is
not reduced by the dibao employment-cost deduction (that deduction belongs to dibao recipients).
Recognition lasts at most 12 months (national rule): tracking when it was given and when it lapses
belongs to the sweep and the review schedule, not to this rule. The national rule also asks for
property within local limits; neither the seeds nor DOMAIN.md fix that test for this category, so it
is not applied here.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, ExpenseKind, LowIncomeCategory
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, yuan

from ._common import dibao_standard, on_aid


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    standard = dibao_standard(h, parameters)
    disposable = parameters["rigid_expense.disposable_income_annual"]
    share = parameters["rigid_expense.spending_share"]
    size = h.size
    annual_income = h.monthly_income_fen * 12
    per_capita_annual = h.per_capita(annual_income)
    income_low = per_capita_annual < disposable.values

    medical = h.expense_annual_fen(ExpenseKind.MEDICAL)
    education = h.expense_annual_fen(ExpenseKind.EDUCATION)
    rehabilitation = h.expense_annual_fen(ExpenseKind.REHABILITATION)
    living_cap = standard.values * size * 12
    living = np.minimum(h.expense_annual_fen(ExpenseKind.LIVING), living_cap)
    spending = medical + education + rehabilitation + living
    heavy = spending > share.values * annual_income

    considered = (size > 0) & ~on_aid(h, earlier, "dibao", "tekun", "marginal")
    eligible = considered & income_low & heavy
    income_values = dict(income=yuan(per_capita_annual), disposable=disposable)
    spending_values = dict(
        spending=yuan(spending),
        medical=yuan(medical),
        education=yuan(education),
        rehabilitation=yuan(rehabilitation),
        living=yuan(living),
        standard=standard,
        members=size,
        cap=yuan(living_cap),
        share=share,
        income=yuan(annual_income),
    )
    spending_words = (
        "rigid spending {spending} a year (medical {medical}, education {education}, rehabilitation "
        "{rehabilitation}, living {living} counted up to dibao standard {standard} × {members} × 12 = {cap})"
    )
    return Assessment(
        eligible=eligible,
        reasons=[
            because(
                (size > 0) & ~considered,
                "ON_LOWER_TIER",
                "the household is on dibao, tekun or marginal: not assessed as rigid-expense",
            ),
            because(
                considered & income_low,
                "INCOME_BELOW_DISPOSABLE",
                "annual per-capita income {income} < last year's per-capita disposable income {disposable}",
                **income_values,
            ),
            because(
                considered & ~income_low,
                "INCOME_AT_OR_ABOVE_DISPOSABLE",
                "annual per-capita income {income} ≥ last year's per-capita disposable income {disposable}",
                **income_values,
            ),
            because(
                considered & heavy,
                "RIGID_SPENDING_HEAVY",
                spending_words + " > {share} × annual household income {income}",
                **spending_values,
            ),
            because(
                considered & ~heavy,
                "RIGID_SPENDING_NOT_HEAVY",
                spending_words + " ≤ {share} × annual household income {income}",
                **spending_values,
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="rigid_expense",
            name="刚性支出困难家庭",
            name_en="Household in hardship from rigid spending",
            tier=AidTier.BASIC_LIVING,
            department="civil_affairs",
            assess=assess,
            depends_on=("dibao", "tekun", "marginal"),
            category=LowIncomeCategory.RIGID_EXPENSE,
            description=(
                "not dibao/tekun/marginal; per-capita income < last year's disposable income; rigid spending "
                "above a local share of income; recognition valid 12 months"
            ),
        )
    ]
