"""``safetynet match``: open needs that no partner can take, and partners with resources to spare.

Registered on the ``safetynet`` command group by cli.py (``cli.add_command(match)``); it reads the
global plugin options from the group's context object when there is one. Imports are inside the
command so that ``safetynet --help`` stays quick.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

import click

from safetynet.rules import LocalityCodeError, check_code, is_within, scope_prefix

SUMMARY_WIDTH = 40


def _runtime(ctx: click.Context) -> Any:
    options = ctx.find_root().obj
    if options is not None and hasattr(options, "runtime"):
        return options.runtime()  # the group's --disable-plugin / --plugin options
    from safetynet.runtime import Runtime

    return Runtime.start()


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _clip(text: str, width: int) -> str:
    out, used = "", 0
    for ch in text.replace("\n", " "):
        w = _width(ch)
        if used + w > width - 1:
            return out + "…"
        out, used = out + ch, used + w
    return out


def _table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    click.echo(f"{title} ({len(rows)})")
    if not rows:
        click.echo("  (none)")
        click.echo()
        return
    cells = [[str(c) for c in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo(
            "  " + "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        )
        if n == 0:
            click.echo("  " + "  ".join("-" * w for w in widths))
    click.echo()


@click.command("match")
@click.option(
    "--locality",
    "locality",
    metavar="CODE",
    help="Only needs in, and partners serving, this area (6, 9 or 12 digits).",
)
@click.option(
    "--all", "show_all", is_flag=True, help="Also list open needs that have matches, with the best one."
)
@click.pass_context
def match(ctx: click.Context, locality: str | None, show_all: bool) -> None:
    """Open needs no partner can take (no match), and partners with resources to spare this year.

    A need is matched when some partner plugin scores a partner that takes its need type, serves its
    township and has resource left (the API shows each score's reason: NeedListing.matches).
    """
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from safetynet.api.ids import encode
    from safetynet.model import NeedStatus, format_yuan
    from safetynet.store.models import NeedListing

    from .matcher import partners_with_remaining, rank_matches, spare
    from .needs import need_event

    if locality is not None:
        try:
            check_code(locality)
        except LocalityCodeError as exc:
            raise click.BadParameter(str(exc), param_hint="--locality") from None
    runtime = _runtime(ctx)
    today = runtime.today()

    def work(session: Session) -> tuple[list[NeedListing], list[Any]]:
        query = select(NeedListing).where(NeedListing.status == NeedStatus.OPEN).order_by(NeedListing.id)
        if locality:
            prefix = scope_prefix(locality) if len(locality) == 6 else locality[:9]
            query = query.where(NeedListing.locality_code.startswith(prefix, autoescape=True))
        return list(session.scalars(query)), partners_with_remaining(session, runtime.catalogue, today)

    listings, partners = runtime.database.run(work)
    unmatched, matched = [], []
    for listing in listings:
        ranked = rank_matches(runtime.plugins, need_event(listing), partners)
        row = [
            encode("NeedListing", listing.id),
            listing.locality_code,
            listing.need_type,
            listing.urgency.name,
            listing.published_at.date().isoformat(),
            _clip(listing.summary, SUMMARY_WIDTH),
        ]
        if ranked:
            matched.append([*row, f"{ranked[0].partner_code} ({ranked[0].score:.2f})", len(ranked)])
        else:
            unmatched.append(row)
    headers = ["listing", "locality", "need type", "urgency", "published", "summary"]
    _table("Open needs without a match", headers, unmatched)
    if show_all:
        _table("Open needs with matches", [*headers, "best match", "matches"], matched)
    rows = []
    for partner in partners:
        if locality and not any(is_within(locality, a) or is_within(a, locality) for a in partner.localities):
            continue  # does not serve the area asked about
        for resource in spare(partner):
            left = []
            if resource.remaining_amount_fen is not None:
                left.append(
                    f"{format_yuan(resource.remaining_amount_fen)} / {format_yuan(resource.amount_fen or 0)}"
                )
            if resource.remaining_quantity is not None:
                left.append(f"{resource.remaining_quantity} / {resource.quantity} places")
            rows.append(
                [
                    partner.code,
                    partner.kind.name,
                    resource.need_type,
                    resource.name,
                    "; ".join(left) or "no stated limit",
                    resource.available_until.isoformat() if resource.available_until else "",
                    ",".join(partner.localities),
                ]
            )
    _table(
        "Partners with spare resources",
        ["partner", "kind", "need type", "resource", "left (yuan; places)", "until", "serves"],
        rows,
    )
