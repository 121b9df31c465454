"""``safetynet explain HOUSEHOLD_ID [--as-of DATE]``: why a household is or is not eligible for each aid.

Registered on the ``safetynet`` group with ``cli.add_command(explain)``. For every installed aid type it
prints eligible or not, the monthly and one-off amounts, and each reason with the parameters it used
(name, locality, value, from, source, illustrative): the same assessment as
``Household.assessments(asOf)`` in the API (one batch load, every aid type's rule, in dependency order).
"""

from __future__ import annotations

from datetime import date, datetime

import click

from safetynet.model import format_yuan


def _household_number(text: str) -> int | None:
    """The numeric id, or the id inside a Household global ID; None if it is neither."""
    from safetynet.api.ids import decode

    if text.isdigit():
        return int(text)
    decoded = decode(text)
    if decoded is not None and decoded[0] == "Household":
        return decoded[1]
    return None


def _amount(fen: object) -> str:
    return "-" if fen is None else format_yuan(int(fen))  # type: ignore[call-overload]


@click.command()
@click.argument("household_id", metavar="HOUSEHOLD_ID")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Assess under the parameters in force on this date (YYYY-MM-DD). Default: today.",
)
@click.pass_context
def explain(ctx: click.Context, household_id: str, as_of: datetime | None) -> None:
    """Explain every aid type's decision for one household (numeric id or global ID)."""
    from safetynet.assessments import assess_batch
    from safetynet.cli import CLIError, _check_migrated, _options, _table
    from safetynet.store.columns import household_filter, load_batch

    number = _household_number(household_id.strip())
    if number is None:
        raise CLIError(f"'{household_id}' is not a household id (a number or a Household global ID)", 2)
    runtime = _options(ctx).runtime()
    _check_migrated(runtime)
    day: date = as_of.date() if as_of else runtime.today()
    batch = runtime.database.run(lambda s: load_batch(s, day, household_filter(household_ids=[number])))
    if len(batch) == 0:
        raise CLIError(f"no household {household_id}", exit_code=2)
    results = assess_batch(runtime.catalogue, batch)
    i = 0
    click.echo(
        f"household {number} in {batch.locality_code[i]}, assessed on {day.isoformat()}: "
        f"per-capita monthly income {format_yuan(int(batch.per_capita_income_fen[i]))}"
    )
    click.echo()
    for code, result in results.items():
        aid = runtime.catalogue.aid_types[code].item
        monthly = None if result.monthly_amount_fen is None else result.monthly_amount_fen[i]
        one_off = None if result.one_off_amount_fen is None else result.one_off_amount_fen[i]
        verdict = "ELIGIBLE" if bool(result.eligible[i]) else "not eligible"
        click.echo(f"== {code} ({aid.name}, {aid.tier.name}, {aid.department}): {verdict}")
        click.echo(f"   monthly {_amount(monthly)}  one-off {_amount(one_off)}")
        for reason in result.reasons_for(i):
            click.echo(f" - [{reason.code}] {reason.message}")
            if reason.parameters:
                _table(
                    "   parameters",
                    ["name", "locality", "value", "from", "source", "illustrative"],
                    [
                        [
                            p.name,
                            p.locality_code,
                            f"{p.display_value} {p.unit}".strip(),
                            p.effective_from.isoformat(),
                            p.source,
                            "yes" if p.illustrative else "no",
                        ]
                        for p in reason.parameters
                    ],
                )
        click.echo()
