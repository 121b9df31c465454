"""``safetynet sweep [--as-of DATE] [--locality CODE]``: the monitoring sweep from the command line.

Registered on the ``safetynet`` group with ``cli.add_command(sweep)``; it also runs on its own
(``python -m safetynet.monitoring.sweep_command``), configured by the same environment variables.
A progress bar goes to stderr and a one-line summary to stdout. An interrupted sweep (Ctrl-C, a killed
process) resumes where it stopped when run again with the same date and locality.
"""

from __future__ import annotations

import sys
import time
from datetime import date, datetime
from typing import Any

import click

from safetynet.monitoring.sweep import DEFAULT_BATCH_SIZE, run_sweep
from safetynet.rules import LocalityCodeError, check_code, scope_prefix


@click.command()
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date to assess on (YYYY-MM-DD). Default: today.",
)
@click.option(
    "--locality",
    "locality_code",
    default=None,
    metavar="CODE",
    help="Only households in this area (6, 9 or 12 digit code). Default: every household.",
)
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Households per batch (one transaction each).",
)
@click.pass_context
def sweep(ctx: click.Context, as_of: datetime | None, locality_code: str | None, batch_size: int) -> None:
    """动态监测: assess every household, run every warning rule, and record the warnings raised."""
    from tqdm import tqdm

    from safetynet.cli import CLIError, _check_migrated, _options

    prefix = ""
    if locality_code:
        try:
            check_code(locality_code)
        except LocalityCodeError as exc:
            raise CLIError(f"--locality: {exc}", exit_code=2) from exc
        prefix = scope_prefix(locality_code)
    runtime = _options(ctx).runtime()
    _check_migrated(runtime)
    if locality_code and not runtime.localities.is_known(locality_code):
        raise CLIError(f"--locality {locality_code} is not under any installed locality plugin", exit_code=2)
    day: date = as_of.date() if as_of else runtime.today()
    area = locality_code or "all localities"
    started = time.perf_counter()
    with tqdm(desc=f"sweeping {area} as of {day}", unit="household", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        result = run_sweep(runtime, day, prefix, batch_size, progress)
    seconds = time.perf_counter() - started
    resumed = " (resumed an interrupted sweep)" if result.resumed else ""
    click.echo(
        f"swept {result.households} households in {area} as of {day}{resumed} in {seconds:.1f} s: "
        f"{result.warnings_raised} warnings raised, {result.warnings_updated} updated, "
        f"{result.categories_changed} households changed category, "
        f"{result.assessments_changed} assessments changed"
    )


def main(argv: Any = None) -> None:
    """Run the sweep command on its own, with the ``safetynet`` group's error handling."""
    from safetynet.cli import SafetynetGroup

    group = SafetynetGroup(name="safetynet", commands={"sweep": sweep})
    group(["sweep", *(sys.argv[1:] if argv is None else argv)], prog_name="safetynet")


if __name__ == "__main__":
    main()
