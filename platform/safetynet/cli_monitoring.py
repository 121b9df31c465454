"""``safetynet ingest SOURCE FILE``: a department feed from a file (API.md, "Command line").

Registered on the ``safetynet`` group by ``safetynet.cli``; also runs alone as
``python -m safetynet.cli_monitoring SOURCE FILE``. Each chunk of the file is stored in its own
transaction, so a large feed does not hold the database's write lock for long; re-running the same
file after an interruption is safe, since records already stored count as duplicates.
Exit codes: 0 when the file was read (even with rejected records), 2 for an unknown source or a file
that cannot be read, 1 for configuration and database errors.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from safetynet.monitoring.ingest import IngestResult
    from safetynet.runtime import Runtime

CHUNK = 50_000  # records per transaction
SHOWN_REJECTIONS = 20


def _runtime(ctx: click.Context) -> Runtime:
    """The runtime as the ``safetynet`` group configures it (its --plugin/--disable-plugin options)
    when run under it, otherwise from the environment."""
    options = ctx.find_root().obj
    if hasattr(options, "runtime"):
        return options.runtime()
    from safetynet.runtime import Runtime
    from safetynet.settings import Settings

    return Runtime.start(Settings.from_env())


def _fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(exit_code)


@click.command("ingest")
@click.argument("source")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def ingest(ctx: click.Context, source: str, file: Path) -> None:
    """Store a department feed FILE (.jsonl, .json or .csv) of data source SOURCE as signals.

    Records already stored (same SOURCE and recordId) are counted as duplicates and not stored again;
    records about people nobody has registered are kept and linked once they are registered. Prints the
    counts and the first rejected records (index = position in the file, from 0).
    """
    from sqlalchemy import exc as sa_exc

    from safetynet.plugins import PluginLoadError
    from safetynet.settings import SettingsError
    from safetynet.store.db import DatabaseURLError

    try:
        runtime = _runtime(ctx)
    except (PluginLoadError, SettingsError, DatabaseURLError) as exc:
        _fail(str(exc), 1)
    known = runtime.catalogue.data_sources
    if source not in known:
        _fail(
            f"no data source '{source}' is installed; known sources: {', '.join(sorted(known)) or '(none)'}",
            2,
        )
    if not file.is_file():
        _fail(f"cannot read {file}: no such file", 2)
    try:
        result, elapsed = _ingest_file(runtime, source, file)
    except (sa_exc.OperationalError, sa_exc.ProgrammingError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        _fail(f"database: {reason} (has `safetynet migrate` been run on this database?)", 1)
    _report(source, file, result, elapsed)


def _ingest_file(runtime: Runtime, source: str, file: Path) -> tuple[IngestResult, float]:
    from tqdm import tqdm

    from safetynet.monitoring.ingest import RecordFileError, estimate_records, ingest_file

    stored = 0  # records in committed chunks

    def committed(records: int) -> None:
        nonlocal stored
        stored += records
        bar.update(records)

    started = time.perf_counter()
    with tqdm(
        total=estimate_records(file),
        desc=f"ingesting {source}",
        unit="record",
        file=sys.stderr,
    ) as bar:
        try:
            result = ingest_file(
                runtime.database,
                runtime.catalogue,
                runtime.vault,
                source,
                file,
                received_at=datetime.now(UTC),
                chunk_size=CHUNK,
                progress=committed,
            )
        except RecordFileError as exc:
            bar.close()
            if stored:
                _fail(f"{exc}; the {stored} records before it were stored (running again is safe)", 2)
            _fail(str(exc), 2)
    return result, time.perf_counter() - started


def _report(source: str, file: Path, result: IngestResult, elapsed: float) -> None:
    rate = f" ({result.records / elapsed:,.0f} records/s)" if elapsed > 0 and result.records else ""
    click.echo(f"ingested {result.records} {source} records from {file} in {elapsed:.1f} s{rate}")
    click.echo(
        f"  accepted:   {result.accepted} ({result.matched} matched to registered members, "
        f"{result.unmatched} kept unmatched)"
    )
    click.echo(f"  duplicates: {result.duplicates}")
    click.echo(f"  rejected:   {len(result.rejected)}")
    if result.linked:
        click.echo(f"  earlier unmatched signals now linked to registered members: {result.linked}")
    if result.rejected:
        shown = result.rejected[:SHOWN_REJECTIONS]
        more = len(result.rejected) - len(shown)
        click.echo(
            f"first {len(shown)} rejected records" + (f" ({more} more not shown)" if more else "") + ":"
        )
        for error in shown:
            click.echo(f"  index {error.index}  recordId {error.record_id or '-'}: {error.message}")


def _standalone(arguments: Any = None) -> None:
    ingest(args=arguments, prog_name="python -m safetynet.cli_monitoring")


if __name__ == "__main__":
    _standalone()
