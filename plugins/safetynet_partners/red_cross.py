"""长宁区红十字会 (Changning District Red Cross): serious-illness help, emergency relief, hospital escort.

Seed 001 §3.3 and §7 link 区红十字会 projects to the need list. Amounts are illustrative.
"""

from __future__ import annotations

from datetime import date

from safetynet import hookimpl
from safetynet.model import Partner, PartnerKind, Resource

from .scoring import match_own

PARTNERS = (
    Partner(
        code="red_cross_310105",
        name="长宁区红十字会",
        name_en="Changning District Red Cross",
        kind=PartnerKind.RED_CROSS,
        need_types=("medical", "disaster", "living", "care"),
        localities=("310105",),
        resources=(
            Resource(
                "rc_serious_illness",
                "博爱助医大病救助",
                "medical",
                amount_fen=25_000_000,
                quantity=120,
                available_until=date(2027, 12, 31),
            ),
            Resource("rc_emergency_relief", "应急救灾物资与救助金", "disaster", amount_fen=10_000_000),
            Resource(
                "rc_new_year",
                "博爱送万家慰问",
                "living",
                amount_fen=6_000_000,
                quantity=600,
                available_until=date(2027, 2, 28),
            ),
            Resource("rc_hospital_escort", "志愿者送医陪护", "care", quantity=300),
        ),
    ),
)


@hookimpl
def safetynet_partners():
    return list(PARTNERS)


@hookimpl
def safetynet_match_need(need, partners):
    return match_own(need, partners, {p.code for p in PARTNERS})
