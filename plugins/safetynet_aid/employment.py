"""就业救助 (employment aid), run by the human resources department. Services, no cash here.

For members of dibao, marginal and rigid-expense households (000 §8, 004 §3.2; 003 §11 names dibao and
low-income families, which are the marginal ones), assessed or in force: each member of working age
(``employment.working_age_from`` to under ``employment.working_age_to``) with full or partial labour
capacity who is UNEMPLOYED is offered job assistance, public-welfare posts and subsidies to employers.

A household with such a member and no member employed is a zero-employment household (零就业家庭), to
be cleared dynamically (动态"清零"): reason ZERO_EMPLOYMENT_HOUSEHOLD and ``extra["zero_employment"]``.
``extra["unemployed_able_members"]`` counts the members offered help.

No cash: the entrepreneurship subsidy (创业补贴) is for those who want to start a business, a fact the
batch does not hold. The employment-cost deduction and gradual exit that employment brings are part of
the dibao rule.
"""

import numpy as np

from safetynet import hookimpl
from safetynet.model import AidTier, AidType, Employment
from safetynet.rules import Assessment, HouseholdBatch, Parameters, because, is_any

from ._common import able_to_work, on_aid, per_member


def assess(households: HouseholdBatch, parameters: Parameters, earlier: dict) -> Assessment:
    h = households
    m = h.members
    age_from = parameters["employment.working_age_from"]
    age_to = parameters["employment.working_age_to"]
    size = h.size
    target = (size > 0) & on_aid(h, earlier, "dibao", "marginal", "rigid_expense")
    working_age = (m.age >= per_member(h, age_from.values)) & (m.age < per_member(h, age_to.values))
    unemployed_able = working_age & able_to_work(h) & is_any(m.employment, Employment.UNEMPLOYED)
    count = h.count_members(unemployed_able)
    employed = h.any_member(is_any(m.employment, Employment.EMPLOYED))
    eligible = target & (count > 0)
    zero_employment = eligible & ~employed
    ages = dict(age_from=age_from, age_to=age_to)
    return Assessment(
        eligible=eligible,
        extra={"unemployed_able_members": np.where(target, count, 0), "zero_employment": zero_employment},
        reasons=[
            because(
                (size > 0) & ~target,
                "NOT_LOW_INCOME",
                "not a dibao, marginal or rigid-expense household",
            ),
            because(
                eligible,
                "UNEMPLOYED_ABLE_MEMBERS",
                "{n} member(s) aged {age_from} to under {age_to}, able to work and unemployed: job "
                "assistance, public-welfare posts",
                n=count,
                **ages,
            ),
            because(
                zero_employment,
                "ZERO_EMPLOYMENT_HOUSEHOLD",
                "no member is employed: zero-employment household, to be cleared (零就业家庭动态清零)",
            ),
            because(
                target & (count == 0),
                "NO_UNEMPLOYED_ABLE_MEMBER",
                "no member aged {age_from} to under {age_to} able to work is unemployed",
                **ages,
            ),
        ],
    )


@hookimpl
def safetynet_aid_types():
    return [
        AidType(
            code="employment",
            name="就业救助",
            name_en="Employment aid",
            tier=AidTier.SPECIAL,
            department="human_resources",
            assess=assess,
            depends_on=("dibao", "marginal", "rigid_expense"),
            description="job assistance for unemployed members able to work; zero-employment households flagged",
        )
    ]
