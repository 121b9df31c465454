"""共青团长宁区委 (Changning District Committee of the Communist Youth League): children and young people.

Seed 001 §5.4 and §6.2: tutoring (学业辅导, 困难家庭青少儿"一对一"义务家教), art education, mental-health
education for children, job guidance for graduates. Amounts are illustrative.
"""

from __future__ import annotations

from datetime import date

from safetynet import hookimpl
from safetynet.model import Partner, PartnerKind, Resource

from .scoring import match_own

PARTNERS = (
    Partner(
        code="youth_league_310105",
        name="共青团长宁区委",
        name_en="Changning District Committee of the Communist Youth League",
        kind=PartnerKind.YOUTH_LEAGUE,
        need_types=("education", "psychological", "employment"),
        localities=("310105",),
        resources=(
            Resource(
                "yl_tutoring",
                "困难家庭青少儿一对一义务家教",
                "education",
                quantity=150,
                available_until=date(2027, 7, 31),
            ),
            Resource(
                "yl_youth_counselling",
                "青少年心理关爱",
                "psychological",
                quantity=80,
                available_until=date(2027, 12, 31),
            ),
            Resource(
                "yl_graduate_jobs",
                "应届毕业生就业见习",
                "employment",
                quantity=60,
                available_until=date(2027, 12, 31),
            ),
        ),
    ),
)


@hookimpl
def safetynet_partners():
    return list(PARTNERS)


@hookimpl
def safetynet_match_need(need, partners):
    return match_own(need, partners, {p.code for p in PARTNERS})
