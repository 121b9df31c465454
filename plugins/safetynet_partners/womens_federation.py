"""长宁区妇女联合会 (Changning District Women's Federation): women, children and families in difficulty.

Seed 001 §5.4 and §6.2: care and visits, psychological support, micro-renovation of the rooms of
children in difficulty, with legal aid and family help. Amounts are illustrative.
"""

from __future__ import annotations

from datetime import date

from safetynet import hookimpl
from safetynet.model import Partner, PartnerKind, Resource

from .scoring import match_own

PARTNERS = (
    Partner(
        code="womens_federation_310105",
        name="长宁区妇女联合会",
        name_en="Changning District Women's Federation",
        kind=PartnerKind.WOMENS_FEDERATION,
        need_types=("living", "care", "psychological", "legal", "housing"),
        localities=("310105",),
        resources=(
            Resource(
                "wf_family_grant",
                "困境妇女儿童帮扶金",
                "living",
                amount_fen=8_000_000,
                quantity=160,
                available_until=date(2027, 12, 31),
            ),
            Resource("wf_family_care", "困境家庭探访关爱", "care", quantity=200),
            Resource(
                "wf_counselling",
                "家庭心理疏导",
                "psychological",
                quantity=100,
                available_until=date(2027, 12, 31),
            ),
            Resource("wf_legal_aid", "妇女儿童法律援助", "legal", quantity=120),
            Resource(
                "wf_room_renovation",
                "困境未成年人居室微改造",
                "housing",
                amount_fen=3_000_000,
                quantity=30,
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
