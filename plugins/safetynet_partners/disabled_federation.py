"""长宁区残疾人联合会 (Changning District Disabled Persons' Federation): help for disabled people.

Seed 001 §5.4: rehabilitation guidance, respite care and psychological support for severely disabled
people and their carers; with assistive devices and employment help. Amounts are illustrative.
"""

from __future__ import annotations

from datetime import date

from safetynet import hookimpl
from safetynet.model import Partner, PartnerKind, Resource

from .scoring import match_own

PARTNERS = (
    Partner(
        code="disabled_federation_310105",
        name="长宁区残疾人联合会",
        name_en="Changning District Disabled Persons' Federation",
        kind=PartnerKind.DISABLED_FEDERATION,
        need_types=("rehabilitation", "assistive", "care", "employment"),
        localities=("310105",),
        resources=(
            Resource(
                "dpf_rehabilitation",
                "残疾人康复训练补贴",
                "rehabilitation",
                amount_fen=12_000_000,
                quantity=240,
                available_until=date(2027, 12, 31),
            ),
            Resource(
                "dpf_assistive_devices",
                "辅助器具适配",
                "assistive",
                amount_fen=5_000_000,
                quantity=250,
                available_until=date(2027, 12, 31),
            ),
            Resource("dpf_respite", "重度残疾人喘息服务", "care", quantity=120),
            Resource("dpf_employment", "残疾人就业援助", "employment", quantity=80),
        ),
    ),
)


@hookimpl
def safetynet_partners():
    return list(PARTNERS)


@hookimpl
def safetynet_match_need(need, partners):
    return match_own(need, partners, {p.code for p in PARTNERS})
