"""Matching needs to partners (需求与资源匹配): remaining resources and the ``safetynet_match_need`` decision.

A partner's resource list is a year's programme: what it has claimed or given in the current calendar
year is deducted from it, oldest-expiring resource first, and a resource past its ``available_until``
has nothing left. Partner plugins score listings with that picture; the core keeps, for each partner,
its best answer, drops partners that cannot see the listing, and ranks the rest by score.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import pluggy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safetynet.catalogue import Catalogue
from safetynet.model import Match, NeedEvent, NeedStatus, Partner, Resource, Role
from safetynet.principals import Principal
from safetynet.store.models import NeedListing

from .events import Audience

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankedMatch:
    partner_code: str
    score: float
    reason: str
    plugin: str


@dataclass(frozen=True)
class Usage:
    """What a partner used of one need type this year: places (claims) and money (fulfilments)."""

    places: int = 0
    amount_fen: int = 0


def usage_this_year(session: Session, today: date) -> dict[tuple[str, str], Usage]:
    """(partner code, need type) → what was claimed or fulfilled since 1 January."""
    start = datetime(today.year, 1, 1, tzinfo=UTC)
    rows = session.execute(
        select(
            NeedListing.claimed_by,
            NeedListing.need_type,
            func.count(),
            func.coalesce(func.sum(NeedListing.fulfilled_amount_fen), 0),
        )
        .where(
            NeedListing.claimed_by.is_not(None),
            NeedListing.status.in_([NeedStatus.CLAIMED, NeedStatus.FULFILLED]),
            NeedListing.claimed_at >= start,
        )
        .group_by(NeedListing.claimed_by, NeedListing.need_type)
    ).all()
    return {(code, need_type): Usage(int(n), int(amount)) for code, need_type, n, amount in rows}


def with_remaining(partner: Partner, usage: dict[tuple[str, str], Usage], today: date) -> Partner:
    """The partner with each resource's ``remaining_*`` filled in."""
    by_type: dict[str, list[Resource]] = defaultdict(list)
    for resource in partner.resources:
        by_type[resource.need_type].append(resource)
    remaining: dict[str, Resource] = {}
    for need_type, resources in by_type.items():
        used = usage.get((partner.code, need_type), Usage())
        places, amount = used.places, used.amount_fen
        for resource in sorted(resources, key=lambda r: (r.available_until or date.max, r.code)):
            expired = resource.available_until is not None and resource.available_until < today
            left_amount = left_places = None
            if resource.amount_fen is not None:
                take = 0 if expired else min(amount, resource.amount_fen)
                amount -= take
                left_amount = 0 if expired else resource.amount_fen - take
            if resource.quantity is not None:
                take = 0 if expired else min(places, resource.quantity)
                places -= take
                left_places = 0 if expired else resource.quantity - take
            if expired and left_amount is None and left_places is None:
                left_places = 0  # an expired resource without stated limits has nothing left
            remaining[resource.code] = replace(
                resource, remaining_amount_fen=left_amount, remaining_quantity=left_places
            )
    return replace(partner, resources=tuple(remaining[r.code] for r in partner.resources))


def partners_with_remaining(session: Session, catalogue: Catalogue, today: date) -> list[Partner]:
    usage = usage_this_year(session, today)
    return [with_remaining(p.item, usage, today) for p in catalogue.partners.values()]


def rank_matches(pm: pluggy.PluginManager, need: NeedEvent, partners: Sequence[Partner]) -> list[RankedMatch]:
    """Ask every plugin (``safetynet_match_need``); best answer per partner, best first.

    A plugin that fails is logged by name and left out: one broken matcher must not hide a listing's
    other matches. Answers for unknown partners, non-positive scores and partners that cannot see the
    listing are dropped.
    """
    by_code = {p.code: p for p in partners}
    best: dict[str, RankedMatch] = {}
    for impl in pm.hook.safetynet_match_need.get_hookimpls():
        try:
            arguments = {"need": need, "partners": partners}
            answers = impl.function(**{k: arguments[k] for k in impl.argnames})
            for match in answers or ():
                if not isinstance(match, Match):
                    raise TypeError(f"expected Match, got {type(match).__name__}")
                partner = by_code.get(match.partner_code)
                score = float(match.score)
                if partner is None or not math.isfinite(score) or score <= 0:
                    continue
                viewer = Audience(Principal(None, Role.PARTNER, partner_code=partner.code), partner)
                if not viewer.allows(need.need_type, need.locality_code, need.locality_code):
                    continue
                current = best.get(partner.code)
                if current is None or score > current.score:
                    best[partner.code] = RankedMatch(partner.code, score, match.reason, impl.plugin_name)
        except Exception:
            log.exception("plugin %s failed in safetynet_match_need", impl.plugin_name)
    return sorted(best.values(), key=lambda m: (-m.score, m.partner_code))


def spare(partner: Partner) -> list[Resource]:
    """The partner's resources with something left (after :func:`with_remaining`); no stated limit counts."""
    out = []
    for r in partner.resources:
        left = [v for v in (r.remaining_amount_fen, r.remaining_quantity) if v is not None]
        if not left or any(v > 0 for v in left):
            out.append(r)
    return out
