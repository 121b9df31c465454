"""Sweep speed: 20,000 synthetic households on SQLite, against a bare read of the same columns.

Run with ``uv run pytest -m benchmark tests/benchmarks/test_sweep_speed.py -s`` (not part of the default
run). Households are registered through the service in bulk and the seven synthetic department feeds go
through the ingest, as in production; then, on the same batch of 20,000:

* the bare read: ``load_batch`` of every household (what any sweep must read), best of three;
* the first sweep: every assessment row, category and warning is new (all written);
* a second sweep with nothing new: everything compared, nothing written.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from safetynet.cli import _chunks, snake_keys, synthetic_areas
from safetynet.households import register_household
from safetynet.model import Role
from safetynet.monitoring.ingest import ingest
from safetynet.monitoring.sweep import run_sweep
from safetynet.principals import Principal
from safetynet.store.columns import household_filter, load_batch
from safetynet.synthetic import feeds, households

HOUSEHOLDS = 20_000
pytestmark = pytest.mark.benchmark


def test_sweep_of_20000_households_against_a_bare_read(runtime):
    today = runtime.today()
    admin = Principal(key_id=None, role=Role.ADMIN)
    generated = list(households(HOUSEHOLDS, synthetic_areas(runtime, today), seed=1, as_of=today))
    started = time.perf_counter()
    for chunk in _chunks([snake_keys(h) for h in generated], 1_000):

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
    registered = time.perf_counter() - started
    signals = 0
    for source, records in feeds(generated, seed=1, as_of=today).items():
        signals += runtime.database.run(
            lambda s, source=source, records=records: ingest(
                s, runtime.catalogue, runtime.vault, source, records, received_at=datetime.now(UTC)
            )
        ).accepted

    reads = []
    for _ in range(3):
        started = time.perf_counter()
        batch = runtime.database.run(lambda s: load_batch(s, today, household_filter(prefix="")))
        reads.append(time.perf_counter() - started)
    assert len(batch) == HOUSEHOLDS
    read = min(reads)

    started = time.perf_counter()
    first = run_sweep(runtime, today, batch_size=HOUSEHOLDS)
    first_time = time.perf_counter() - started
    started = time.perf_counter()
    second = run_sweep(runtime, today, batch_size=HOUSEHOLDS)
    second_time = time.perf_counter() - started

    print(
        f"\n{HOUSEHOLDS} households registered in {registered:.1f} s, {signals} signals ingested\n"
        f"bare read (load_batch): {read:.2f} s (runs: {', '.join(f'{r:.2f}' for r in reads)})\n"
        f"first sweep: {first_time:.2f} s = {first_time / read:.1f} × the read "
        f"({first.assessments_changed} assessment rows, {first.warnings_raised} warnings, "
        f"{first.categories_changed} category changes written)\n"
        f"second sweep, nothing new: {second_time:.2f} s = {second_time / read:.1f} × the read "
        f"({second.warnings_raised} warnings, {second.assessments_changed} rows written)"
    )
    assert first.households == second.households == HOUSEHOLDS
    assert (second.warnings_raised, second.warnings_updated, second.assessments_changed) == (0, 0, 0)
    assert second_time < 6 * read  # generous: the point is the printed numbers
