"""河畔慈善会: an outside partner organisation."""

from safetynet import hookimpl
from safetynet.model import Partner, PartnerKind, Resource


@hookimpl
def safetynet_partners():
    return [
        Partner(
            code="riverside_charity",
            name="河畔慈善会",
            name_en="Riverside Charity",
            kind=PartnerKind.CHARITY,
            need_types=("education", "medical"),
            localities=("990000",),
            resources=(
                Resource(code="school_fund", name="助学金", need_type="education", amount_fen=200000),
            ),
        )
    ]
