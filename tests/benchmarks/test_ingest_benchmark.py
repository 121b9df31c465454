"""Ingest rate on SQLite: about 200,000 synthetic department records (all seven sources).

Run with ``uv run pytest -m benchmark tests/benchmarks/test_ingest_benchmark.py -s`` (not part of the
default run). The records come from ``safetynet.synthetic.feeds`` over 75,000 households (95% of their
people, plus 2% about people nobody registered), written as JSON lines and ingested per source with
``ingest_file``, as ``safetynet ingest`` does:

* unmatched: no household registered, every signal is kept unmatched;
* matched: the first 20,000 households registered first (about a quarter of the records match);
* the same files again: every record is a duplicate.

The floor asserted is only a regression guard, well below the rate on an idle machine.
"""

from __future__ import annotations

import json
import resource
import time
from datetime import UTC, datetime

import pytest

from safetynet.cli import _chunks, snake_keys, synthetic_areas
from safetynet.households import register_household
from safetynet.model import Role
from safetynet.monitoring.ingest import IngestResult, ingest_file
from safetynet.principals import Principal
from safetynet.synthetic import feeds, households

HOUSEHOLDS = 75_000
REGISTERED = 20_000
FLOOR = 15_000  # records per second
pytestmark = pytest.mark.benchmark


def ingest_files(runtime, paths) -> tuple[IngestResult, float, float]:
    """Each file through ``ingest_file`` (``safetynet ingest``): the totals, wall and CPU seconds (this
    process and its forked reader)."""
    received_at = datetime.now(UTC)
    total = IngestResult()
    wall, cpu = time.perf_counter(), _cpu()
    for source, path in paths.items():
        total += ingest_file(
            runtime.database, runtime.catalogue, runtime.vault, source, path, received_at=received_at
        )
    return total, time.perf_counter() - wall, _cpu() - cpu


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.mark.parametrize("registered", [0, REGISTERED])
def test_ingest_rate_of_200000_records(runtime, tmp_path, registered):
    today = runtime.today()
    generated = list(households(HOUSEHOLDS, synthetic_areas(runtime, today), seed=1, as_of=today))
    paths = {}
    for source, records in feeds(generated, share_of_people=0.95, seed=1, as_of=today).items():
        paths[source] = tmp_path / f"{source}.jsonl"
        paths[source].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    admin = Principal(key_id=None, role=Role.ADMIN)
    for chunk in _chunks([snake_keys(h) for h in generated[:registered]], 1_000):

        def work(session, chunk=chunk):  # type: ignore[no-untyped-def]
            for data in chunk:
                register_household(
                    session,
                    data,
                    principal=admin,
                    localities=runtime.localities,
                    vault=runtime.vault,
                    today=today,
                )

        runtime.database.run(work)

    first, wall, cpu = ingest_files(runtime, paths)
    again, wall_again, _ = ingest_files(runtime, paths)
    records = first.records
    print(
        f"\n{records} records, {registered} households registered: {wall:.2f} s ({records / wall:,.0f} records/s; "
        f"CPU {records / cpu:,.0f}/s), {first.matched} matched, {first.unmatched} unmatched; "
        f"again: {wall_again:.2f} s ({records / wall_again:,.0f} records/s), {again.duplicates} duplicates"
    )
    assert records > 190_000 and first.accepted == records and first.rejected == ()
    assert (again.accepted, again.duplicates) == (0, records)
    assert (first.matched > 40_000) == bool(registered)
    assert records / wall > FLOOR
