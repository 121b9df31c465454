"""How the built-in partner plugins score a need listing (``safetynet_match_need``).

A partner matches a listing when it takes the need type, serves an area that contains the listing's
township, and has resource left for that need type (or declares no resource list at all). The score, in
(0, 1], weighs three things a caseworker can check:

* **proximity** (weight 0.5): 1 / (1 + distance), where distance counts the levels of the administrative
  tree between the listing's township and the partner's area (its own township 0, its county 1, the
  city 2, the province 3, the nation 4);
* **remaining resource** (weight 0.3): the largest share left of any of the partner's resources for the
  need type (remaining amount or places ÷ what was offered); 0.5 when the partner lists no resource;
* **urgency** (weight 0.2): LOW 0.25, NORMAL 0.5, HIGH 0.75, CRITICAL 1 — the same for every partner
  of one listing, so it orders the listings of ``safetynet match`` without reordering their partners.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from safetynet.model import Match, NeedEvent, Partner, Resource, Urgency, format_yuan
from safetynet.rules import ancestors

PROXIMITY_WEIGHT = 0.5
RESOURCE_WEIGHT = 0.3
URGENCY_WEIGHT = 0.2
UNLISTED_RESOURCE_SHARE = 0.5
URGENCY_FACTOR = {Urgency.LOW: 0.25, Urgency.NORMAL: 0.5, Urgency.HIGH: 0.75, Urgency.CRITICAL: 1.0}


def locality_distance(locality_code: str, served: Sequence[str]) -> tuple[int, str] | None:
    """(levels between the listing's locality and the nearest served area containing it, that area)."""
    chain = ancestors(locality_code)
    found = [(chain.index(code), code) for code in served if code in chain]
    return min(found) if found else None


def remaining_share(resource: Resource) -> float | None:
    """What is left of a resource as a share of what was offered (None: it states no quantity)."""
    shares = []
    if resource.amount_fen:
        left = resource.amount_fen if resource.remaining_amount_fen is None else resource.remaining_amount_fen
        shares.append(max(left, 0) / resource.amount_fen)
    if resource.quantity:
        left = resource.quantity if resource.remaining_quantity is None else resource.remaining_quantity
        shares.append(max(left, 0) / resource.quantity)
    return min(shares) if shares else None


def _describe(resource: Resource) -> str:
    parts = []
    if resource.amount_fen:
        left = resource.amount_fen if resource.remaining_amount_fen is None else resource.remaining_amount_fen
        parts.append(f"{format_yuan(max(left, 0))} of {format_yuan(resource.amount_fen)} yuan")
    if resource.quantity:
        left = resource.quantity if resource.remaining_quantity is None else resource.remaining_quantity
        parts.append(f"{max(left, 0)} of {resource.quantity} places")
    until = f", until {resource.available_until}" if resource.available_until else ""
    return f"{resource.name}: {' and '.join(parts) or 'no stated limit'} left{until}"


def score(need: NeedEvent, partner: Partner) -> Match | None:
    """The partner's match for the need, or None when it cannot take it."""
    if need.need_type not in partner.need_types:
        return None
    nearest = locality_distance(need.locality_code, partner.localities)
    if nearest is None:
        return None
    distance, area = nearest
    resources = [r for r in partner.resources if r.need_type == need.need_type]
    if resources:
        shares = [(remaining_share(r), r) for r in resources]
        share, best = max(((s if s is not None else 1.0), r) for s, r in shares)
        if share <= 0:
            return None
        resource_text = _describe(best)
    else:
        share, resource_text = UNLISTED_RESOURCE_SHARE, "no resource list declared"
    proximity = 1 / (1 + distance)
    urgency = URGENCY_FACTOR[need.urgency]
    value = PROXIMITY_WEIGHT * proximity + RESOURCE_WEIGHT * share + URGENCY_WEIGHT * urgency
    where = "serves this township" if distance == 0 else f"serves {area}, {distance} level(s) above"
    reason = (
        f"takes '{need.need_type}'; {where}; {resource_text}; urgency {need.urgency.name} "
        f"(score = 0.5×{proximity:.2f} proximity + 0.3×{share:.2f} resource + 0.2×{urgency:.2f} urgency)"
    )
    return Match(partner.code, round(value, 4), reason)


def match_own(need: NeedEvent, partners: Sequence[Partner], own: Collection[str]) -> list[Match]:
    """Scores for the partners a plugin provides (each plugin answers only for its own partners)."""
    return [m for p in partners if p.code in own and (m := score(need, p)) is not None]
