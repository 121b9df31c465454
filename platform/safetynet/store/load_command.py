"""``safetynet load FILE``: bulk-load households.jsonl (as ``safetynet generate`` writes it).

Each line is one ``RegisterHouseholdInput`` JSON object. Lines are validated as registration validates
them; invalid ones are skipped and listed (the first 20) by line number. Batches are committed one by
one, so running the same file again after an interruption skips the households already loaded (their
people are already registered). Registered on the ``safetynet`` group by ``safetynet.cli``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

SHOWN_REJECTIONS = 20


def _runtime(ctx: click.Context) -> Any:
    """The runtime as the ``safetynet`` group configures it, or from the environment when run alone."""
    options = ctx.find_root().obj
    if hasattr(options, "runtime"):
        return options.runtime()
    from safetynet.runtime import Runtime
    from safetynet.settings import Settings

    return Runtime.start(Settings.from_env())


def _fail(message: str, exit_code: int) -> None:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(exit_code)


def read_lines(path: Path) -> Iterator[Any]:
    """Each line's JSON value (record i is line i + 1), or an ``Unreadable`` saying why it is not one."""
    from safetynet.fastjson import loads
    from safetynet.store.bulk import Unreadable

    with path.open(encoding="utf-8-sig") as file:
        for number, line in enumerate(file, start=1):
            try:
                yield loads(line)
            except ValueError as exc:
                yield Unreadable(f"not a JSON object ({exc.args[0] if exc.args else exc})")
            except RecursionError:
                yield Unreadable(f"line {number} is nested too deeply")


def _count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))


@click.command("load")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--batch-size",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Households per transaction.",
)
@click.pass_context
def load(ctx: click.Context, file: Path, batch_size: int) -> None:
    """Bulk-load FILE (households.jsonl: RegisterHouseholdInput JSON lines) as registered today.

    Much faster than registering one by one, with the same checks: invalid households and people
    already registered are skipped and listed by line number. Run `safetynet migrate` first.
    """
    from tqdm import tqdm

    from safetynet.store.bulk import load_households

    if not file.is_file():
        _fail(f"cannot read {file}: no such file", 2)
    runtime = _runtime(ctx)
    started = time.perf_counter()
    with tqdm(total=_count_lines(file), desc="loading households", unit="household", file=sys.stderr) as bar:
        summary = load_households(
            runtime.database,
            runtime.vault,
            read_lines(file),
            today=runtime.today(),
            batch_size=batch_size,
            progress=bar.update,
            localities=runtime.localities,
        )
    elapsed = time.perf_counter() - started
    rate = f" ({summary.records / elapsed:,.0f} records/s)" if elapsed > 0 and summary.records else ""
    click.echo(
        f"loaded {summary.households} households ({summary.members} members, {summary.incomes} incomes, "
        f"{summary.assets} assets, {summary.rigid_expenses} rigid expenses) from {file} in {elapsed:.1f} s{rate}"
    )
    click.echo(f"skipped {summary.skipped}")
    shown = summary.rejected[:SHOWN_REJECTIONS]
    if shown:
        more = summary.skipped - len(shown)
        click.echo(f"first {len(shown)} skipped lines" + (f" ({more} more not shown)" if more else "") + ":")
        for rejection in shown:
            click.echo(f"  line {rejection.index + 1}: {rejection.reason}")
