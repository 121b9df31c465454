"""The sweep computing in a forked process (``run_sweep(parallel=True)``) ends where one process does.

Same county, same month, swept in one process and then, from scratch, with batches computed in a second
process: the same warnings (levels, evidence, routes, announcements), categories and assessments. When
the stored warnings change between computing a batch and writing it, the batch is swept again in the
writing process.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, delete, select, update

from monitoring_county import (
    EXPECTED,
    MONTH_END,
    PLUGINS,
    Hedong,
    at,
    month_of_signals,
    register_county,
    signal,
    start,
)
from safetynet import hookimpl
from safetynet.model import WarningLevel, WarningRule
from safetynet.monitoring.sweep import run_sweep
from safetynet.rules import Detection
from safetynet.store.models import (
    AssessmentResult,
    HouseholdCategory,
    SignalRow,
    SweepRun,
    Warning,
    WarningRoute,
)
from test_sweep import snapshot


def reset(runtime: Any) -> None:
    def work(session: Any) -> None:
        for model in (WarningRoute, Warning, HouseholdCategory, AssessmentResult, SweepRun):
            session.execute(delete(model))

    runtime.database.run(work)


def without_clock(state: dict[str, Any]) -> dict[str, Any]:
    """The snapshot with each visit deadline to the hour (an escalated one counts from the second sweep)."""
    hour = timedelta(hours=1)
    return {**state, "warnings": [(*w[:-1], round(w[-1] / hour)) for w in state["warnings"]]}


@pytest.mark.parametrize("listening", [True, False], ids=["with listeners", "without listeners"])
def test_two_processes_end_where_one_does(make_runtime, listening):
    if listening:
        runtime, watcher = start(make_runtime)
    else:
        runtime, watcher = make_runtime(extra_plugins=[Hedong()], allowed_plugins=PLUGINS), None
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    bill = "medical_insurance-A2-1-INPATIENT-2025-03-30"
    ends = {}
    for parallel in (False, True):
        reset(runtime)
        runtime.database.run(lambda s: s.execute(delete(SignalRow).where(SignalRow.record_id == bill)))
        if watcher is not None:
            watcher.raised.clear()
        first = run_sweep(runtime, batch_size=3, parallel=parallel)
        # A bill takes A2 over its annual income: its open warning is updated, not duplicated.
        signal(
            runtime,
            county,
            "A2",
            1,
            "medical_insurance",
            "INPATIENT",
            date(2025, 3, 30),
            amount_fen=4_000_000,
        )
        second = run_sweep(runtime, batch_size=3, parallel=parallel)
        heard = sorted((e.household_id, e.rule, e.level.name) for e in watcher.raised) if watcher else []
        ends[parallel] = (
            without_clock(snapshot(runtime)),
            (first.warnings_raised, first.categories_changed, first.assessments_changed),
            (second.warnings_raised, second.warnings_updated),
            heard,
        )
    assert ends[True] == ends[False]
    assert ends[True][1][0] == len(EXPECTED) and ends[True][2] == (0, 1)


class Meddler:
    """A rule that raises nothing but, once armed, takes back the announcement of the open warnings of the
    batch it is computing for, from another connection: as if someone changed them mid-sweep."""

    def __init__(self, database_url: str, armed: Path) -> None:
        self.database_url = database_url
        self.armed = armed

    def detect(self, households, parameters, context):  # type: ignore[no-untyped-def]
        if self.armed.exists():
            self.armed.unlink()
            engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://"))
            with engine.begin() as connection:
                connection.execute(
                    update(Warning)
                    .where(Warning.household_id.in_(households.household_id.tolist()))
                    .values(notified_level=None)
                )
            engine.dispose()
        return Detection(raised=np.zeros(len(households), dtype=bool), evidence=[])

    @hookimpl
    def safetynet_warning_rules(self):  # type: ignore[no-untyped-def]
        return [
            WarningRule(
                code="meddler_test_rule",
                name="meddler",
                level=WarningLevel.BLUE,
                watches="nothing",
                departments=(),
                detect=self.detect,
            )
        ]


def test_a_batch_whose_warnings_changed_meanwhile_is_swept_again(make_runtime, database_url, tmp_path):
    armed = tmp_path / "armed"
    runtime = make_runtime(extra_plugins=[Hedong(), Meddler(database_url, armed)], allowed_plugins=PLUGINS)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    run_sweep(runtime, parallel=True)
    before = snapshot(runtime)
    assert all(w[8] == w[2] for w in before["warnings"])  # every warning announced at its level

    armed.touch()
    again = run_sweep(runtime, batch_size=4, parallel=True)
    assert not armed.exists()  # the meddler did its work, in the computing process
    assert (again.warnings_raised, again.warnings_updated) == (0, 0)
    assert snapshot(runtime) == before  # swept again here: the warnings were announced again
    found = runtime.database.run(lambda s: s.scalars(select(Warning.notified_level)).all())
    assert None not in found


def test_a_sweep_in_other_batches_writes_nothing_new(make_runtime):
    """A household's evidence digest does not depend on the other households of its batch (a rule lists
    some reasons only when a household of the batch has them)."""
    runtime = make_runtime(extra_plugins=[Hedong()], allowed_plugins=PLUGINS)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    assert run_sweep(runtime).warnings_raised == len(EXPECTED)
    for batch_size in (3, 4, 1):
        again = run_sweep(runtime, batch_size=batch_size)
        assert (again.warnings_raised, again.warnings_updated, again.assessments_changed) == (0, 0, 0)
