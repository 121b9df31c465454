"""The monitoring sweep, through the service and the command: a county through March 2025.

Warnings with their levels, deadlines (per locality), routes (the rule's, the detection's, and an outside
plugin's ``safetynet_route_warning``) and evidence; events to ``safetynet_warning_raised``; updates
instead of duplicates; nothing written by a sweep with nothing new; categories opened and closed; a
sweep killed mid-way and re-run ends where an uninterrupted one does.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update

from conftest import assert_foreign_keys_hold
from crash_support import command_env, kill_when, run
from monitoring_county import (
    EXPECTED,
    FIRST_DAY,
    MONTH_END,
    PLUGINS,
    START,
    Hedong,
    at,
    month_of_signals,
    register_county,
    signal,
    start,
)
from safetynet.model import LowIncomeCategory, Reason, Resolution, WarningLevel
from safetynet.model import WarningStatus as Status
from safetynet.monitoring.evidence import SOURCE_UNINSTALLED, code_and_message, reason_from_json
from safetynet.monitoring.sweep import run_sweep, swept_households
from safetynet.store.models import (
    AssessmentResult,
    Household,
    HouseholdCategory,
    Income,
    SweepRun,
    Warning,
    WarningRoute,
)

ROOT = Path(__file__).resolve().parents[1]
VISIT_DAYS = {"BLUE": 30, "YELLOW": 15, "ORANGE": 7, "RED": 3}  # national.toml (illustrative)
HEDONG_DAYS = {**VISIT_DAYS, "ORANGE": 2, "RED": 1}  # the test pack for 120102


def warnings_by_key(runtime: Any, county: Any) -> dict[tuple[str, str], Warning]:
    rows = runtime.database.run(
        lambda s: [(w, w.routed_to) for w in s.scalars(select(Warning).order_by(Warning.id)).all()]
    )
    found = {}
    for warning, _ in rows:
        key = (county.name_of(warning.household_id), warning.rule)
        assert key not in found, f"two warnings for {key}"
        found[key] = warning
    return found


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Statements:
    """Counts the INSERT, UPDATE and DELETE statements sent on an engine, by table."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.writes: list[str] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.writes.append(" ".join(statement.split()[:3]))

    def outside(self, table: str) -> list[str]:
        return [w for w in self.writes if table not in w]


def test_safetynet_warning_rules_a_month_in_a_county(make_runtime):
    """Every built-in rule fires on its household, with the level, deadline, routes and evidence expected."""
    runtime, _ = start(make_runtime)
    county = register_county(runtime)

    first = run_sweep(runtime)  # 1 March: only the rules about the households' state can fire
    assert first.households == len(county.households)
    assert first.warnings_raised == len(FIRST_DAY)
    assert set(warnings_by_key(runtime, county)) == FIRST_DAY

    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    second = run_sweep(runtime)
    assert second.warnings_raised == len(EXPECTED) - len(FIRST_DAY)
    found = warnings_by_key(runtime, county)
    assert {key: w.level.name for key, w in found.items()} == EXPECTED

    for (name, rule), warning in found.items():
        days = (HEDONG_DAYS if name == "I" else VISIT_DAYS)[warning.level.name]
        assert aware(warning.visit_due_by) - aware(warning.raised_at) == timedelta(days=days), (name, rule)
        assert warning.status is Status.OPEN

    routes = {key: w.routed_to for key, w in found.items()}
    assert routes[("A1", "medical_out_of_pocket")] == [
        "county_coordination",
        "medical_security",
    ]  # RED: + plugin
    assert routes[("A2", "medical_out_of_pocket")] == ["medical_security"]
    assert routes[("B1", "member_unemployed")] == ["human_resources"]
    assert routes[("C", "member_deceased")] == ["civil_affairs"]
    assert routes[("C", "policy_not_delivered")] == ["medical_security"]  # the aid type's department
    assert routes[("D", "severe_disability")] == ["disabled_federation"]
    assert routes[("E", "disaster")] == ["emergency_management"]
    assert routes[("F", "dibao_income_above_standard")] == ["civil_affairs"]
    assert routes[("G", "likely_eligible_not_enrolled")] == ["civil_affairs", "county_coordination"]

    def reasons(key: tuple[str, str]) -> list[Reason]:
        return [reason_from_json(e, runtime.localities) for e in found[key].evidence]

    def evidence(key: tuple[str, str]) -> dict[str, str]:
        return {r.code: r.message for r in reasons(key)}

    a1 = evidence(("A1", "medical_out_of_pocket"))
    assert a1["LARGE_OUT_OF_POCKET"] == (
        "out-of-pocket medical spending 60000.00 over the last 365 days (2 bills, latest on 2025-03-12) "
        "≥ threshold 10000.00"
    )
    assert a1["OUT_OF_POCKET_ABOVE_ANNUAL_INCOME"] == (
        "out-of-pocket spending 60000.00 exceeds the household's annual income 48000.00 (monthly income 4000.00 × 12)"
    )
    [threshold] = reasons(("A1", "medical_out_of_pocket"))[0].parameters
    assert (threshold.name, threshold.locality_code, threshold.display_value, threshold.illustrative) == (
        "warning.medical_out_of_pocket_annual",
        "100000",
        "10000.00",
        True,
    )
    assert threshold.source == runtime.localities.source_of(
        threshold.name, threshold.locality_code, threshold.effective_from
    )
    assert "OUT_OF_POCKET_ABOVE_ANNUAL_INCOME" not in evidence(("A2", "medical_out_of_pocket"))
    assert evidence(("B1", "member_unemployed")) == {
        "NEWLY_UNEMPLOYED": "member (SPOUSE, 49) registered unemployed on 2025-03-10 (human-resources record within "
        "the last 90 days, no later employment record); 1 member(s) newly unemployed"
    }
    assert "ZERO_EMPLOYMENT_HOUSEHOLD" in evidence(("B2", "member_unemployed"))
    c = evidence(("C", "member_deceased"))
    assert c["MEMBER_DECEASED"].startswith("member (HEAD, 74) reported deceased on 2025-03-15")
    assert "1 member(s) remain" in c["MEMBER_DECEASED"]
    assert (
        c["BASIC_LIVING_AID_IN_FORCE"] == "dibao is in force: recompute its amount for the smaller household"
    )
    assert found[("C", "member_deceased")].member_id == county.members["C"][0]
    assert found[("C", "member_deceased")].aid_type_code == "dibao"
    d = evidence(("D", "severe_disability"))
    assert d["SEVERE_DISABILITY_CERTIFIED"].startswith(
        "member (HEAD, 44) certified disabled LEVEL_2 on 2025-03-20"
    )
    assert (
        "per-capita income 1200.00 < 1.5 × dibao standard 1010.00 = 1515.00"
        in d["LOW_INCOME_WITHOUT_BASIC_AID"]
    )
    assert evidence(("E", "disaster"))["DISASTER"].startswith("disaster FLOOD on 2025-03-25")
    f = evidence(("F", "dibao_income_above_standard"))
    assert f["DIBAO_NO_LONGER_APPLIES"] == (
        "dibao in force since 2025-03-01 but no longer assessed eligible: verify, then terminate"
    )
    assert "per-capita income 2000.00 ≥ dibao standard 1010.00" in f.values()  # the dibao rule's own reason
    g = evidence(("G", "likely_eligible_not_enrolled"))
    assert g["ELIGIBLE_NOT_ENROLLED"] == (
        "assessed eligible for 最低生活保障 (dibao) but no dibao aid is in force on the aid chain"
    )
    assert g["ASSESSED_MONTHLY_AMOUNT"] == "dibao: assessed monthly amount 1010.00"
    assert "NO_INCOME_NO_AID" in g
    assert found[("G", "likely_eligible_not_enrolled")].aid_type_code == "dibao"
    assert found[("D", "likely_eligible_not_enrolled")].aid_type_code == "marginal"
    assert found[("G", "policy_not_delivered")].aid_type_code == "medical"

    # Categories: opened on the first sweep, from the aid types that decide one.
    categories = runtime.database.run(
        lambda s: {
            (county.name_of(c.household_id), c.category, c.since, c.until)
            for c in s.scalars(select(HouseholdCategory))
        }
    )
    assert categories == {
        ("C", LowIncomeCategory.DIBAO, START, None),
        ("D", LowIncomeCategory.MARGINAL, START, None),
        ("G", LowIncomeCategory.DIBAO, START, None),
    }
    assert first.categories_changed == 3 and second.categories_changed == 0

    # The latest assessment per household and aid type, as first written (the driver's own executemany);
    # nothing is stored for an aid type a household was never found eligible for.
    g = county.households["G"]
    rows = runtime.database.run(
        lambda s: {
            r.aid_type_code: (r.eligible, r.monthly_amount_fen, r.one_off_amount_fen, r.assessed_on)
            for r in s.scalars(select(AssessmentResult).where(AssessmentResult.household_id == g))
        }
    )
    assert rows["dibao"] == (True, 101000, None, START)
    assert "marginal" not in rows
    assert rows["medical"][0] is True and rows["medical"][1] is None and rows["medical"][2] > 0


def test_safetynet_warning_raised_hears_new_and_escalated_warnings(make_runtime):
    runtime, watcher = start(make_runtime)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    run_sweep(runtime)
    heard = {(county.name_of(e.household_id), e.rule): e for e in watcher.raised}
    assert {key: e.level.name for key, e in heard.items()} == EXPECTED  # the async hook was awaited
    assert len(watcher.raised) == len(EXPECTED)
    found = warnings_by_key(runtime, county)
    for key, event_ in heard.items():
        assert event_.warning_id == found[key].id
        assert event_.locality_code == {"H": "120101002", "I": "120102001"}.get(key[0], "120101001")
        assert [r.code for r in event_.evidence] == [code_and_message(e)[0] for e in found[key].evidence]
    assert {w.notified_level for w in found.values()} == {w.level for w in found.values()}

    # A new bill takes A2 over its annual income: the open warning is raised to RED, not duplicated.
    watcher.raised.clear()
    signal(
        runtime, county, "A2", 1, "medical_insurance", "INPATIENT", date(2025, 3, 30), amount_fen=4_000_000
    )
    before = found[("A2", "medical_out_of_pocket")]
    third = run_sweep(runtime)
    assert (third.warnings_raised, third.warnings_updated) == (0, 1)
    after = warnings_by_key(runtime, county)[("A2", "medical_out_of_pocket")]
    assert (after.id, after.level) == (before.id, WarningLevel.RED)
    assert after.routed_to == ["county_coordination", "medical_security"]  # the route hook asked again
    assert aware(after.visit_due_by) < aware(before.visit_due_by)  # the RED deadline comes first
    assert aware(after.raised_at) == aware(before.raised_at)
    assert [(county.name_of(e.household_id), e.rule, e.level.name) for e in watcher.raised] == [
        ("A2", "medical_out_of_pocket", "RED")
    ]

    # A sweep killed between committing a batch and announcing it: the next sweep announces the warnings
    # (from what is stored), once.
    e_id = found[("E", "disaster")].id
    runtime.database.run(
        lambda s: s.execute(update(Warning).where(Warning.id == e_id).values(notified_level=None))
    )
    watcher.raised.clear()
    run_sweep(runtime, locality_prefix="120101001")
    assert [(county.name_of(e.household_id), e.rule, e.level.name, e.warning_id) for e in watcher.raised] == [
        ("E", "disaster", "ORANGE", e_id)
    ]
    assert watcher.raised[0].evidence[0].message.startswith("disaster FLOOD on 2025-03-25")
    watcher.raised.clear()
    run_sweep(runtime)
    assert watcher.raised == []


def test_safetynet_route_warning_adds_departments(make_runtime):
    runtime, watcher = start(make_runtime)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    run_sweep(runtime)
    # Asked once per new warning, with the event and the rule; its answer is added to the rule's own.
    assert sorted(watcher.routed) == sorted((rule, level) for (_, rule), level in EXPECTED.items())
    routed = runtime.database.run(
        lambda s: sorted(
            county.name_of(h)
            for (h,) in s.execute(
                select(Warning.household_id)
                .join(WarningRoute)
                .where(WarningRoute.department == "county_coordination")
            )
        )
    )
    assert routed == ["A1", "G"]


def test_a_second_sweep_with_nothing_new_writes_nothing(make_runtime):
    runtime, watcher = start(make_runtime)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    run_sweep(runtime)
    watcher.raised.clear()
    stamps = runtime.database.run(lambda s: sorted(s.execute(select(Warning.id, Warning.updated_at)).all()))
    with Statements(runtime.database.engine) as statements:
        again = run_sweep(runtime)
    assert (again.households, again.warnings_raised, again.warnings_updated, again.categories_changed) == (
        len(county.households),
        0,
        0,
        0,
    )
    assert again.assessments_changed == 0
    assert statements.outside("sweep_runs") == []  # only the sweep's own run record was written
    assert statements.writes  # (which it was)
    assert watcher.raised == []
    assert (
        runtime.database.run(lambda s: sorted(s.execute(select(Warning.id, Warning.updated_at)).all()))
        == stamps
    )

    # The next day, still nothing new: the evidence does not depend on the date.
    with Statements(runtime.database.engine) as statements:
        run_sweep(runtime, MONTH_END + timedelta(days=1))
    assert statements.outside("sweep_runs") == []


def test_a_resolved_warning_is_not_raised_again_for_the_same_thing(make_runtime):
    runtime, _ = start(make_runtime)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    run_sweep(runtime)
    b1 = warnings_by_key(runtime, county)[("B1", "member_unemployed")]
    runtime.database.run(
        lambda s: s.execute(
            update(Warning)
            .where(Warning.id == b1.id)
            .values(status=Status.RESOLVED, resolution=Resolution.NO_ACTION)
        )
    )
    assert run_sweep(runtime).warnings_raised == 0
    # The other member loses work too: that is new, so a new warning is raised.
    signal(runtime, county, "B1", 0, "human_resources", "UNEMPLOYED", date(2025, 3, 28))
    result = run_sweep(runtime)
    assert result.warnings_raised == 1
    fresh = warnings_by_key_all(runtime, county, "B1", "member_unemployed")
    assert [(w.status, w.level.name) for w in fresh] == [(Status.RESOLVED, "YELLOW"), (Status.OPEN, "ORANGE")]
    assert fresh[1].member_id == county.members["B1"][0]


def warnings_by_key_all(runtime: Any, county: Any, name: str, rule: str) -> list[Warning]:
    household = county.households[name]
    return runtime.database.run(
        lambda s: s.scalars(
            select(Warning)
            .where(Warning.household_id == household, Warning.rule == rule)
            .order_by(Warning.id)
        ).all()
    )


def test_categories_close_when_a_household_leaves_one(make_runtime):
    runtime, _ = start(make_runtime)
    county = register_county(runtime)
    run_sweep(runtime)
    # G finds work on 15 March: no longer dibao.
    g = county.households["G"]

    def raise_income(session: Any) -> None:
        session.add(
            Income(
                household_id=g,
                member_id=county.members["G"][0],
                kind="WAGES",
                monthly_amount_fen=500_000,
                valid_from=date(2025, 3, 15),
            )
        )

    runtime.database.run(raise_income)
    result = run_sweep(runtime, MONTH_END)
    assert result.categories_changed == 1
    rows = runtime.database.run(
        lambda s: [
            (c.category, c.since, c.until)
            for c in s.scalars(select(HouseholdCategory).where(HouseholdCategory.household_id == g))
        ]
    )
    assert rows == [(LowIncomeCategory.DIBAO, START, MONTH_END)]
    stored = runtime.database.run(lambda s: s.get(AssessmentResult, (g, "dibao")))
    assert (stored.eligible, stored.monthly_amount_fen, stored.assessed_on) == (False, 0, MONTH_END)
    # Back below the standard later: a new open row, the closed one kept as history.
    runtime.database.run(
        lambda s: s.execute(update(Income).where(Income.household_id == g).values(valid_to=date(2025, 4, 10)))
    )
    assert run_sweep(runtime, date(2025, 4, 30)).categories_changed == 1
    rows = runtime.database.run(
        lambda s: sorted(
            (c.since, c.until)
            for c in s.scalars(select(HouseholdCategory).where(HouseholdCategory.household_id == g))
        )
    )
    assert rows == [(START, MONTH_END), (date(2025, 4, 30), None)]


def test_a_sweep_of_one_township_leaves_the_others_alone(make_runtime):
    runtime, _ = start(make_runtime)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    result = run_sweep(runtime, locality_prefix="120101002")
    assert (result.households, result.warnings_raised) == (1, 1)
    assert set(warnings_by_key(runtime, county)) == {("H", "medical_out_of_pocket")}
    everyone = list(county.households.values())
    assert runtime.database.run(lambda s: swept_households(s, everyone)) == {county.households["H"]}


def test_small_batches_reach_the_same_answer_as_one(make_runtime):
    runtime, _ = start(make_runtime)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    progress: list[tuple[int, int]] = []
    result = run_sweep(runtime, batch_size=2, progress=lambda done, total: progress.append((done, total)))
    total = len(county.households)
    assert (
        progress[0] == (0, total) and progress[-1] == (total, total) and len(progress) == 1 + (total + 1) // 2
    )
    assert result.warnings_raised == len(EXPECTED)
    assert {k: w.level.name for k, w in warnings_by_key(runtime, county).items()} == EXPECTED


# -- the command, killed mid-way -------------------------------------------------------------------

SLOW_RULE = '''
"""A rule that raises nothing and takes its time: it keeps each batch open long enough to be killed in."""
import time

import numpy as np

from safetynet import hookimpl
from safetynet.model import WarningLevel, WarningRule
from safetynet.rules import Detection


def detect(households, parameters, context):
    time.sleep(0.4)
    return Detection(raised=np.zeros(len(households), dtype=bool), evidence=[])


@hookimpl
def safetynet_warning_rules():
    return [WarningRule(code="slow_test_rule", name="slow", level=WarningLevel.BLUE, watches="nothing",
                        departments=(), detect=detect)]
'''


def snapshot(runtime: Any) -> dict[str, Any]:
    """The sweep's end state, without ids and clock times."""

    def work(session: Any) -> dict[str, Any]:
        warnings = sorted(
            (
                w.household_id,
                w.rule,
                w.level.name,
                w.status.name,
                repr(w.evidence),
                w.member_id,
                w.aid_type_code,
                w.basis,
                w.notified_level and w.notified_level.name,
                tuple(w.routed_to),
                aware(w.visit_due_by) - aware(w.raised_at),
            )
            for w in session.scalars(select(Warning))
        )
        categories = sorted(
            (c.household_id, c.category.name, c.since, c.until)
            for c in session.scalars(select(HouseholdCategory))
        )
        results = sorted(
            (
                r.household_id,
                r.aid_type_code,
                r.eligible,
                r.monthly_amount_fen,
                r.one_off_amount_fen,
                r.assessed_on,
            )
            for r in session.scalars(select(AssessmentResult))
        )
        return {"warnings": warnings, "categories": categories, "assessment_results": results}

    return runtime.database.run(work)


def test_a_killed_sweep_resumes_and_ends_where_an_uninterrupted_one_does(
    make_runtime, database_url, tmp_path
):
    runtime, _ = start(make_runtime)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    plugins_dir = tmp_path / "plugins"
    plugins_dir.mkdir()
    (plugins_dir / "slow_rule.py").write_text(SLOW_RULE)
    env = command_env(
        database_url, SAFETYNET_PLUGINS=",".join(PLUGINS), SAFETYNET_PLUGINS_DIR=str(plugins_dir)
    )
    command = [
        sys.executable,
        "-m",
        "safetynet.monitoring.sweep_command",
        "--as-of",
        str(MONTH_END),
        "--batch-size",
        "2",
    ]

    def one_batch_done() -> bool:
        return runtime.database.run(lambda s: s.scalar(select(SweepRun.last_household_id))) is not None

    kill_when(command, env, tmp_path, ready=one_batch_done)
    [(last, finished, swept)] = runtime.database.run(
        lambda s: s.execute(
            select(SweepRun.last_household_id, SweepRun.finished_at, SweepRun.households)
        ).all()
    )
    ids = sorted(county.households.values())
    assert finished is None and ids[0] <= last < ids[-1] and 0 < swept < len(ids)  # killed mid-way

    resumed = run(command, env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed an interrupted sweep" in resumed.stdout
    assert f"swept {len(ids)} households" in resumed.stdout
    interrupted = snapshot(runtime)
    assert {(county.name_of(w[0]), w[1]) for w in interrupted["warnings"]} == set(EXPECTED)
    assert all(w[8] == w[2] for w in interrupted["warnings"])  # every warning announced at its level

    def reset(session: Any) -> None:
        for model in (WarningRoute, Warning, HouseholdCategory, AssessmentResult, SweepRun):
            session.execute(delete(model))

    runtime.database.run(reset)
    uninterrupted = run(command, env, tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert "resumed" not in uninterrupted.stdout
    assert snapshot(runtime) == interrupted


def test_the_sweep_command_reports_and_refuses_bad_input(make_runtime, database_url, tmp_path):
    runtime, _ = start(make_runtime)
    register_county(runtime)
    env = command_env(database_url, SAFETYNET_PLUGINS=",".join(PLUGINS))

    def sweep(*args: str) -> subprocess.CompletedProcess[str]:
        return run([sys.executable, "-m", "safetynet.monitoring.sweep_command", *args], env, tmp_path)

    done = sweep("--as-of", str(START), "--locality", "120101")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("swept 10 households in 120101 as of 2025-03-01")
    assert "household" in done.stderr  # the progress bar
    # Another process, the same data: the digests match, nothing is written (no per-process hashing).
    again = sweep("--as-of", str(START), "--locality", "120101")
    assert (
        "0 warnings raised, 0 updated, 0 households changed category, 0 assessments changed" in again.stdout
    )
    bad = sweep("--locality", "12x")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --locality:")
    unknown = sweep("--locality", "990000")
    assert unknown.returncode == 2 and "not under any installed locality" in unknown.stderr
    assert runtime.database.run(lambda s: s.scalar(select(Household.id).limit(1))) is not None


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_must_be_positive(make_runtime, batch_size):
    runtime, _ = start(make_runtime)
    with pytest.raises(ValueError, match="batch_size"):
        run_sweep(runtime, START, batch_size=batch_size)


def test_without_listeners_warnings_are_written_as_announced(make_runtime):
    """With no plugin implementing safetynet_warning_raised, nothing is announced and nothing is left over."""
    runtime = make_runtime(extra_plugins=[Hedong()], allowed_plugins=PLUGINS)
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    with Statements(runtime.database.engine) as statements:
        result = run_sweep(runtime)
    assert result.warnings_raised == len(EXPECTED)
    found = warnings_by_key(runtime, county)
    assert all(w.notified_level is w.level for w in found.values())
    assert not [w for w in statements.writes if w.startswith("UPDATE warnings")]  # no second write to record
    signal(
        runtime, county, "A2", 1, "medical_insurance", "INPATIENT", date(2025, 3, 30), amount_fen=4_000_000
    )
    assert run_sweep(runtime).warnings_updated == 1
    escalated = warnings_by_key(runtime, county)[("A2", "medical_out_of_pocket")]
    assert escalated.level is escalated.notified_level is WarningLevel.RED
    with Statements(runtime.database.engine) as statements:
        run_sweep(runtime)
    assert statements.outside("sweep_runs") == []


def test_evidence_stored_as_objects_before_reads_as_the_compact_lists_now(runtime):
    """Warnings stored before the compact form keep reading the same, their parameters' sources too;
    and what the sweep wrote holds its references."""
    county = register_county(runtime)
    month_of_signals(runtime, county)
    at(runtime, MONTH_END)
    run_sweep(runtime)
    assert_foreign_keys_hold(runtime)  # the sweep wrote without SQLite's checks
    stored = warnings_by_key(runtime, county)[("A1", "medical_out_of_pocket")].evidence
    assert all(isinstance(entry, list) for entry in stored)
    now = [reason_from_json(e, runtime.localities) for e in stored]
    before = [
        {
            "code": r.code,
            "message": r.message,
            "parameters": [
                {
                    "name": u.name,
                    "locality_code": u.locality_code,
                    "value": u.display_value,
                    "unit": u.unit,
                    "effective_from": u.effective_from.isoformat(),
                    "illustrative": u.illustrative,
                }
                for u in r.parameters
            ],
        }
        for r in now
    ]
    assert [reason_from_json(e, runtime.localities) for e in before] == now
    assert now[0].parameters and now[0].parameters[0].source != SOURCE_UNINSTALLED
