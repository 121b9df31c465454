"""``safetynet reconcile FILE``: a funds-platform payment export against the aid chain (资金核对).

Registered on the ``safetynet`` group with ``cli.add_command(reconcile)``. See
:mod:`safetynet.governance.reconcile` for the file format and the three kinds of discrepancy.

Exit codes: 0 when every compared amount matches and every row could be read; 1 when there are
discrepancies or unreadable rows (the report says which); 2 when the reconciliation cannot run (no such
file, a missing column, a bad option).
"""

from __future__ import annotations

import json
from typing import Any

import click

from safetynet.model import format_yuan
from safetynet.rules import LocalityCodeError, check_code, scope_prefix

from .reconcile import ExportError, Reconciliation, month_of, read_payments, reconcile

CIVIL_AFFAIRS = "civil_affairs"


def _month(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return month_of(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(name="reconcile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--locality",
    "locality_code",
    metavar="CODE",
    default=None,
    help="Only households in this area (6, 9 or 12 digit code). Default: every household.",
)
@click.option(
    "--month", metavar="YYYY-MM", callback=_month, help="Only this month. Default: the export's months."
)
@click.option(
    "--aid-type",
    "aid_types",
    multiple=True,
    metavar="CODE",
    help="An aid type to compare (repeatable). Default: every installed aid type of civil affairs.",
)
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def reconcile_command(
    ctx: click.Context,
    file: str,
    locality_code: str | None,
    month: Any,
    aid_types: tuple[str, ...],
    output: str,
) -> None:
    """资金核对: compare a funds-platform payment export (CSV) with the aid chain.

    FILE has the columns household_id, aid_type, month (YYYY-MM) and amount (yuan). Lists paid but not
    approved, approved but not paid, and amount mismatches; exits 1 if there are any (or unreadable
    rows), 0 if the month is clean.
    """
    from safetynet.cli import CLIError, _check_migrated, _options

    prefix = ""
    if locality_code:
        try:
            prefix = scope_prefix(check_code(locality_code))
        except LocalityCodeError as exc:
            raise CLIError(f"--locality: {exc}", exit_code=2) from exc
    runtime = _options(ctx).runtime()
    _check_migrated(runtime)
    if locality_code and not runtime.localities.is_known(locality_code):
        raise CLIError(f"--locality {locality_code} is not under any installed locality plugin", exit_code=2)
    installed = runtime.catalogue.aid_types
    for code in aid_types:
        if code not in installed:
            raise CLIError(
                f"--aid-type '{code}' is not an installed aid type; known: {', '.join(sorted(installed))}", 2
            )
    compared = list(aid_types) or [
        code for code, p in installed.items() if p.item.department == CIVIL_AFFAIRS
    ]
    try:
        with open(file, encoding="utf-8-sig", newline="") as export:
            payments = read_payments(export, known_aid_types=installed, compared=compared, only_month=month)
    except ExportError as exc:
        raise CLIError(f"{file}: {exc}", exit_code=2) from exc
    except UnicodeDecodeError as exc:
        raise CLIError(f"{file} is not UTF-8 text: {exc.reason} at byte {exc.start}", exit_code=2) from exc
    result = runtime.database.run(
        lambda s: reconcile(s, payments, aid_types=compared, prefix=prefix, months=[month] if month else [])
    )
    if output == "json":
        click.echo(json.dumps(_as_json(result), ensure_ascii=False, indent=2))
    else:
        _print_table(result, locality_code)
    ctx.exit(0 if result.clean else 1)


def _as_json(result: Reconciliation) -> dict[str, Any]:
    return {
        "summary": {
            "months": [f"{m:%Y-%m}" for m in result.months],
            "aidTypes": result.aid_types,
            "localityPrefix": result.locality_prefix,
            "rows": result.rows,
            "badRows": len(result.bad_rows),
            "skipped": result.skipped,
            "compared": result.compared,
            "paid": format_yuan(result.paid_fen),
            "approved": format_yuan(result.approved_fen),
            "discrepancies": result.counts(),
            "clean": result.clean,
        },
        "discrepancies": [
            {
                "kind": d.kind.value,
                "householdId": d.household_id,
                "aidType": d.aid_type,
                "month": f"{d.month:%Y-%m}",
                "paid": format_yuan(d.paid_fen),
                "approved": format_yuan(d.approved_fen),
                "difference": format_yuan(d.paid_fen - d.approved_fen),
                "lines": list(d.lines),
                "aidRecordIds": list(d.aid_record_ids),
                "note": d.note,
            }
            for d in result.discrepancies
        ],
        "badRows": [{"line": b.line, "message": b.message} for b in result.bad_rows],
    }


def _print_table(result: Reconciliation, locality_code: str | None) -> None:
    from safetynet.cli import _table

    months = ", ".join(f"{m:%Y-%m}" for m in result.months) or "none"
    click.echo(
        f"reconciled {result.rows} rows for {locality_code or 'all localities'}, months {months}: "
        f"{result.compared} household × aid type × month compared, paid {format_yuan(result.paid_fen)}, "
        f"approved {format_yuan(result.approved_fen)} yuan"
    )
    counts = result.counts()
    click.echo(
        f"{counts['PAID_NOT_APPROVED']} paid not approved, {counts['APPROVED_NOT_PAID']} approved not paid, "
        f"{counts['AMOUNT_MISMATCH']} amount mismatches, {len(result.bad_rows)} unreadable rows"
    )
    for reason, count in sorted(result.skipped.items()):
        click.echo(f"skipped {count} rows: {reason}")
    if result.discrepancies:
        _table(
            "Discrepancies",
            (
                "kind",
                "household",
                "aid type",
                "month",
                "paid",
                "approved",
                "difference",
                "lines",
                "aid records",
            ),
            [
                (
                    d.kind.value,
                    d.household_id,
                    d.aid_type,
                    f"{d.month:%Y-%m}",
                    format_yuan(d.paid_fen),
                    format_yuan(d.approved_fen),
                    format_yuan(d.paid_fen - d.approved_fen),
                    " ".join(map(str, d.lines)) or "-",
                    " ".join(map(str, d.aid_record_ids)) or d.note or "-",
                )
                for d in result.discrepancies
            ],
        )
    if result.bad_rows:
        _table("Unreadable rows", ("line", "problem"), [(b.line, b.message) for b in result.bad_rows])
    click.echo("clean: every amount matches" if result.clean else "NOT clean: see above")
