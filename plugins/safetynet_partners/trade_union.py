"""长宁区总工会 (Changning District Federation of Trade Unions): hardship help for workers' families.

Seed 001 §3.3 and §7 link 区总工会 projects to the need list; its programmes here are the usual ones of
a district union (困难职工帮扶, 职工医疗互助, 金秋助学, 就业援助). Amounts are illustrative.
"""

from __future__ import annotations

from datetime import date

from safetynet import hookimpl
from safetynet.model import Partner, PartnerKind, Resource

from .scoring import match_own

PARTNERS = (
    Partner(
        code="trade_union_310105",
        name="长宁区总工会",
        name_en="Changning District Federation of Trade Unions",
        kind=PartnerKind.TRADE_UNION,
        need_types=("living", "medical", "education", "employment"),
        localities=("310105",),
        resources=(
            Resource(
                "tu_hardship_grant",
                "困难职工帮扶金",
                "living",
                amount_fen=30_000_000,
                quantity=300,
                available_until=date(2027, 12, 31),
            ),
            Resource(
                "tu_medical_mutual",
                "职工医疗互助补充救助",
                "medical",
                amount_fen=20_000_000,
                quantity=100,
                available_until=date(2027, 12, 31),
            ),
            Resource(
                "tu_golden_autumn",
                "金秋助学",
                "education",
                amount_fen=10_000_000,
                quantity=200,
                available_until=date(2027, 9, 30),
            ),
            Resource("tu_employment", "就业援助与技能培训", "employment", quantity=500),
        ),
    ),
)


@hookimpl
def safetynet_partners():
    return list(PARTNERS)


@hookimpl
def safetynet_match_need(need, partners):
    return match_own(need, partners, {p.code for p in PARTNERS})
