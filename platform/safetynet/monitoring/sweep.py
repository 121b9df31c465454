"""The monitoring sweep (动态监测比对): assess every household, run every warning rule, write in bulk.

:func:`run_sweep` walks the households of an area in id order, in columnar batches
(:func:`safetynet.store.columns.load_batch`). For each batch it runs every aid type
(:func:`safetynet.assessments.assess_batch`) and every warning rule's ``detect(households, parameters,
context)`` with ``context = {"assessments": results, "catalogue": catalogue}``, then, in one transaction:

* **assessment_results**: inserts or updates only the (household, aid type) answers that changed;
* **household_categories**: opens a row for each category a household entered and closes (``until`` =
  the as-of date) the ones it left;
* **warnings**: an OPEN, ASSIGNED or VERIFIED warning of the same rule for the same household is
  updated (evidence, subject, basis; the level only ever goes up, and a higher level brings the visit
  deadline forward), never duplicated. A new warning gets ``raised_at`` (now), ``visit_due_by`` =
  ``raised_at`` + ``warning.visit_days.<level>`` days of the household's locality, and routes =
  the rule's departments ∪ the detection's departments ∪ every answer of ``safetynet_route_warning``.
  A RESOLVED or DISMISSED warning with the same basis (the rule's, else the evidence digest) and at
  least the same level is not raised again. Open warnings are compared by a digest of their evidence
  (``safetynet.monitoring.digest``), so unchanged ones are neither read nor formatted;
* **sweep_runs**: the batch's counts and its last household id.

Everything is compared in NumPy or in one pass over the raised households; the writes are bulk
statements (``executemany``), never one ORM round trip per household. Unchanged data means no write
at all besides the sweep's own ``sweep_runs`` row, so a second sweep with nothing new writes nothing.

After each committed batch, ``safetynet_warning_raised`` is called (through :func:`safetynet.plugins.notify`)
for every warning that is new, or open at a higher level than last announced (``notified_level``), and
the announced level is recorded. A sweep that was killed resumes after the last committed batch of the
unfinished run with the same date and area; since every batch is idempotent, the end state is the one an
uninterrupted sweep reaches. Every sweep first announces the open warnings of its area that were
committed but not announced at their level (the process died in between), so no event is lost.

The sweep is synchronous (the sync engine). From the CLI it runs as it is; from async code run it in a
thread and pass the event loop, so plugins' awaitables run on it::

    loop = asyncio.get_running_loop()
    result = await asyncio.to_thread(run_sweep, runtime, as_of, prefix, loop=loop)

One sweep per area at a time: two concurrent sweeps of the same area would share the same run; the
database refuses a second open warning of a rule for a household (a partial unique index), so a
batch that races another sweep fails and is rolled back rather than duplicate a warning.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any

import numpy as np
import pluggy
from sqlalchemy import ColumnElement, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from safetynet.assessments import RuleError, assess_batch
from safetynet.catalogue import Catalogue, Provided
from safetynet.model import LowIncomeCategory, ParameterUse, Reason, WarningEvent, WarningLevel, WarningRule
from safetynet.model import WarningStatus as Status
from safetynet.plugins import notify
from safetynet.rules import Assessment, Detection, HouseholdBatch, Parameters
from safetynet.store.columns import household_filter, load_batch
from safetynet.store.models import (
    AssessmentResult,
    Household,
    HouseholdCategory,
    SweepRun,
    Warning,
    WarningRoute,
)

from .digest import evidence_digests, hex_digest

__all__ = ["DEFAULT_BATCH_SIZE", "OPEN_STATUSES", "SweepResult", "run_sweep"]

DEFAULT_BATCH_SIZE = 20_000
OPEN_STATUSES = (Status.OPEN, Status.ASSIGNED, Status.VERIFIED)
CLOSED_STATUSES = (Status.RESOLVED, Status.DISMISSED)
LEVELS = list(WarningLevel)  # index = level code, low to high
CATEGORIES = list(LowIncomeCategory)
NONE = -(2**62)  # an amount column the aid type does not have (stored as NULL)
_IN_LIST = 5_000  # values per SQL IN (…) list

# Bulk writes go through the tables (Core executemany), much faster than ORM bulk operations.
_RESULTS = AssessmentResult.__table__
_CATEGORIES = HouseholdCategory.__table__
_WARNINGS = Warning.__table__
_ROUTES = WarningRoute.__table__
_UPDATE_RESULT = (
    update(_RESULTS)
    .where(
        _RESULTS.c.household_id == bindparam("k_household"), _RESULTS.c.aid_type_code == bindparam("k_code")
    )
    .values(
        eligible=bindparam("v_eligible"),
        monthly_amount_fen=bindparam("v_monthly"),
        one_off_amount_fen=bindparam("v_one_off"),
        assessed_on=bindparam("v_day"),
    )
)
_CLOSE_CATEGORY = (
    update(_CATEGORIES).where(_CATEGORIES.c.id == bindparam("k_id")).values(until=bindparam("v_until"))
)
_UPDATE_WARNING = (
    update(_WARNINGS)
    .where(_WARNINGS.c.id == bindparam("k_id"))
    .values(
        evidence=bindparam("v_evidence"),
        evidence_digest=bindparam("v_digest"),
        level=bindparam("v_level"),
        member_id=bindparam("v_member"),
        aid_type_code=bindparam("v_aid"),
        basis=bindparam("v_basis"),
        visit_due_by=bindparam("v_due"),
        notified_level=bindparam("v_notified"),
        updated_at=bindparam("v_now"),
    )
)


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did (for a resumed sweep, including the part done before it was interrupted)."""

    households: int
    warnings_raised: int
    categories_changed: int
    warnings_updated: int = 0
    assessments_changed: int = 0
    run_id: int | None = None
    resumed: bool = False


@dataclass
class _Outcome:
    """One batch's counts and the events to announce once it is committed."""

    assessments_changed: int = 0
    categories_changed: int = 0
    warnings_raised: int = 0
    warnings_updated: int = 0
    events: list[tuple[int, WarningEvent]] = field(default_factory=list)  # (warning id, event)


def run_sweep(
    runtime: Any,
    as_of: date | None = None,
    locality_prefix: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
) -> SweepResult:
    """Sweep the households whose locality code starts with ``locality_prefix`` as of ``as_of``.

    ``progress(done, total)`` is called after each committed batch (and once at the start). ``loop``:
    the event loop to run plugins' awaitables on when called from a worker thread (see the module).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    as_of = as_of or runtime.today()
    database = runtime.database
    run, resumed = database.run(lambda s: _start_or_resume(s, as_of, locality_prefix))
    total = database.run(
        lambda s: (
            s.scalar(
                select(func.count()).select_from(Household).where(household_filter(prefix=locality_prefix))
            )
            or 0
        )
    )
    done = run.households
    if progress is not None:
        progress(done, max(total, done))
    announcer = _Announcer(runtime.plugins, loop)
    try:
        # Warnings committed by an earlier sweep that was killed before announcing them.
        announcer.announce(database, database.run(lambda s: _pending(s, locality_prefix)))
        while True:
            outcome, last, swept = database.run(
                lambda s: _sweep_next(s, runtime, run, as_of, locality_prefix, batch_size)
            )
            if last is None:
                break
            announcer.announce(database, outcome.events)
            done += swept
            if progress is not None:
                progress(done, max(total, done))
        finished = database.run(lambda s: _finish(s, run.id))
    finally:
        announcer.close()
    return SweepResult(
        households=finished.households,
        warnings_raised=finished.warnings_raised,
        categories_changed=finished.categories_changed,
        warnings_updated=finished.warnings_updated,
        assessments_changed=finished.assessments_changed,
        run_id=finished.id,
        resumed=resumed,
    )


# ------------------------------------------------------------------------------------------------
# The run log
# ------------------------------------------------------------------------------------------------


def _start_or_resume(session: Session, as_of: date, prefix: str) -> tuple[SweepRun, bool]:
    """The unfinished run for this date and area (a sweep that was interrupted), or a new one."""
    run = session.scalar(
        select(SweepRun)
        .where(SweepRun.as_of == as_of, SweepRun.locality_prefix == prefix, SweepRun.finished_at.is_(None))
        .order_by(SweepRun.id.desc())
        .limit(1)
    )
    if run is not None:
        return run, True
    run = SweepRun(
        as_of=as_of,
        locality_prefix=prefix,
        started_at=datetime.now(UTC),
        households=0,
        warnings_raised=0,
        warnings_updated=0,
        categories_changed=0,
        assessments_changed=0,
    )
    session.add(run)
    session.flush()
    return run, False


def _finish(session: Session, run_id: int) -> SweepRun:
    run = session.get(SweepRun, run_id)
    assert run is not None
    run.finished_at = datetime.now(UTC)
    session.flush()
    return run


def _sweep_next(
    session: Session, runtime: Any, run: SweepRun, as_of: date, prefix: str, batch_size: int
) -> tuple[_Outcome, int | None, int]:
    """Sweep the next batch after the run's last household, and record the progress, in one transaction."""
    current = session.get(SweepRun, run.id, populate_existing=True)
    assert current is not None
    after = current.last_household_id or 0
    ids = session.scalars(
        select(Household.id)
        .where(household_filter(prefix=prefix), Household.id > after)
        .order_by(Household.id)
        .limit(batch_size)
    ).all()
    if not ids:
        return _Outcome(), None, 0
    where = household_filter(id_range=(ids[0], ids[-1]), prefix=prefix)
    batch = load_batch(session, as_of, where)
    outcome = sweep_batch(session, runtime.catalogue, runtime.plugins, batch, where)
    session.execute(
        update(SweepRun)
        .where(SweepRun.id == run.id)
        .values(
            last_household_id=ids[-1],
            households=SweepRun.households + len(batch),
            warnings_raised=SweepRun.warnings_raised + outcome.warnings_raised,
            warnings_updated=SweepRun.warnings_updated + outcome.warnings_updated,
            categories_changed=SweepRun.categories_changed + outcome.categories_changed,
            assessments_changed=SweepRun.assessments_changed + outcome.assessments_changed,
        )
    )
    return outcome, ids[-1], len(batch)


# ------------------------------------------------------------------------------------------------
# One batch
# ------------------------------------------------------------------------------------------------


def sweep_batch(
    session: Session,
    catalogue: Catalogue,
    pm: pluggy.PluginManager,
    batch: HouseholdBatch,
    where: ColumnElement[bool],
) -> _Outcome:
    """Assess and detect for ``batch`` (the households matching ``where``) and write what changed."""
    outcome = _Outcome()
    if not len(batch):
        return outcome
    in_batch = select(Household.id).where(where)
    results = assess_batch(catalogue, batch)
    parameters = Parameters(catalogue.localities, batch.locality_code, batch.as_of)
    context = {"assessments": results, "catalogue": catalogue}
    detections = {
        code: (provided, _detect(provided, batch, parameters, context))
        for code, provided in catalogue.warning_rules.items()
    }
    outcome.assessments_changed = _write_assessments(session, catalogue, batch, results, in_batch)
    outcome.categories_changed = _write_categories(session, catalogue, batch, results, in_batch)
    _write_warnings(session, pm, batch, parameters, detections, in_batch, outcome)
    return outcome


def _detect(
    provided: Provided[WarningRule], batch: HouseholdBatch, parameters: Parameters, context: dict[str, Any]
) -> Detection:
    rule = provided.item
    try:
        detection = rule.detect(batch, parameters, context)
    except Exception as exc:
        raise RuleError(f"warning rule '{rule.code}' (plugin {provided.plugin}): {exc}") from exc
    n = len(batch)
    for name in ("raised", "level", "member_id", "aid_type_code", "departments", "basis"):
        column = getattr(detection, name, None)
        if column is not None and np.shape(column) != (n,):
            raise RuleError(
                f"warning rule '{rule.code}' (plugin {provided.plugin}): Detection.{name} has shape "
                f"{np.shape(column)}, expected one value per household ({n})"
            )
    return detection


# -- assessment_results ----------------------------------------------------------------------------


def _write_assessments(
    session: Session,
    catalogue: Catalogue,
    batch: HouseholdBatch,
    results: dict[str, Assessment],
    in_batch: Any,
) -> int:
    """Upsert the (household, aid type) answers that changed; returns how many rows were written."""
    codes = list(results)
    if not codes:
        return 0
    n, k = len(batch), len(codes)
    eligible = np.stack([np.asarray(results[c].eligible, dtype=bool) for c in codes], axis=1)
    monthly = np.stack([_amounts(results[c].monthly_amount_fen, n) for c in codes], axis=1)
    one_off = np.stack([_amounts(results[c].one_off_amount_fen, n) for c in codes], axis=1)

    column_of = case({c: j for j, c in enumerate(codes)}, value=AssessmentResult.aid_type_code, else_=-1)
    rows = session.execute(
        select(
            AssessmentResult.household_id,
            column_of,
            AssessmentResult.eligible,
            func.coalesce(AssessmentResult.monthly_amount_fen, NONE),
            func.coalesce(AssessmentResult.one_off_amount_fen, NONE),
        ).where(AssessmentResult.household_id.in_(in_batch))
    ).all()
    stored = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=5 * len(rows)).reshape(-1, 5)
    stored = stored[stored[:, 1] >= 0]  # rows of aid types no longer installed are left as they are
    i = np.searchsorted(batch.household_id, stored[:, 0])
    j = stored[:, 1]
    present = np.zeros((n, k), dtype=bool)
    old_eligible = np.zeros((n, k), dtype=bool)
    old_monthly = np.full((n, k), NONE, dtype=np.int64)
    old_one_off = np.full((n, k), NONE, dtype=np.int64)
    present[i, j] = True
    old_eligible[i, j] = stored[:, 2] != 0
    old_monthly[i, j] = stored[:, 3]
    old_one_off[i, j] = stored[:, 4]
    changed = present & ((old_eligible != eligible) | (old_monthly != monthly) | (old_one_off != one_off))
    rows_i, rows_j = np.nonzero(changed | ~present)
    if not len(rows_i):
        return 0
    new = ~present[rows_i, rows_j]
    household = batch.household_id[rows_i].tolist()
    code = [codes[j] for j in rows_j.tolist()]
    yes = eligible[rows_i, rows_j].tolist()
    month = [None if v == NONE else v for v in monthly[rows_i, rows_j].tolist()]
    once = [None if v == NONE else v for v in one_off[rows_i, rows_j].tolist()]
    day = batch.as_of
    inserts, updates = [], []
    for h, c, e, m, o, is_new in zip(household, code, yes, month, once, new.tolist(), strict=True):
        if is_new:
            inserts.append((h, c, e, m, o, day))
        else:
            updates.append(
                {"k_household": h, "k_code": c, "v_eligible": e, "v_monthly": m, "v_one_off": o, "v_day": day}
            )
    if inserts:
        _insert_results(session, inserts)
    if updates:
        session.execute(_UPDATE_RESULT, updates)
    return len(household)


def _insert_results(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """INSERT assessment rows with the driver's own executemany: a first sweep writes one row per household
    and aid type (300,000 for 20,000 households), and SQLAlchemy's per-row parameter processing would
    double the time. Values are given as the column types store them (SQLite: 0/1 and ISO dates)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        marker = "?"
        rows = [(h, c, int(e), m, o, d.isoformat()) for h, c, e, m, o, d in rows]
    else:
        marker = "%s"
    columns = "household_id, aid_type_code, eligible, monthly_amount_fen, one_off_amount_fen, assessed_on"
    connection.exec_driver_sql(
        f"INSERT INTO {_RESULTS.name} ({columns}) VALUES ({', '.join([marker] * 6)})", rows
    )


def _amounts(column: np.ndarray | None, n: int) -> np.ndarray:
    if column is None:
        return np.full(n, NONE, dtype=np.int64)
    return np.asarray(column, dtype=np.int64)


# -- household_categories --------------------------------------------------------------------------


def category_bits(catalogue: Catalogue, results: dict[str, Assessment], n: int) -> np.ndarray:
    """Per household, a bit mask of its low-income categories (bit = position in LowIncomeCategory)."""
    bits = np.zeros(n, dtype=np.int64)
    for code, assessment in results.items():
        category = catalogue.aid_types[code].item.category
        if category is not None:
            bits |= np.asarray(assessment.eligible, dtype=np.int64) << CATEGORIES.index(category)
    return bits


def _write_categories(
    session: Session,
    catalogue: Catalogue,
    batch: HouseholdBatch,
    results: dict[str, Assessment],
    in_batch: Any,
) -> int:
    """Open and close category rows where a household's set changed; returns how many households changed."""
    n = len(batch)
    new = category_bits(catalogue, results, n)
    stored = session.execute(
        select(
            HouseholdCategory.id,
            HouseholdCategory.household_id,
            HouseholdCategory.category,
            HouseholdCategory.since,
        ).where(HouseholdCategory.household_id.in_(in_batch), HouseholdCategory.until.is_(None))
    ).all()
    old = np.zeros(n, dtype=np.int64)
    if stored:
        i = np.searchsorted(batch.household_id, np.asarray([r[1] for r in stored], dtype=np.int64))
        bit = np.asarray([1 << CATEGORIES.index(r[2]) for r in stored], dtype=np.int64)
        np.bitwise_or.at(old, i, bit)
    changed = np.flatnonzero(old != new)
    if not len(changed):
        return 0
    changed_set = set(batch.household_id[changed].tolist())
    closes = [
        {"k_id": row_id, "v_until": max(batch.as_of, since)}
        for row_id, household_id, category, since in stored
        if household_id in changed_set
        and not (new[np.searchsorted(batch.household_id, household_id)] >> CATEGORIES.index(category)) & 1
    ]
    opens = [
        {
            "household_id": int(batch.household_id[i]),
            "category": category,
            "since": batch.as_of,
            "until": None,
        }
        for i in changed.tolist()
        for b, category in enumerate(CATEGORIES)
        if (int(new[i]) >> b) & 1 and not (int(old[i]) >> b) & 1
    ]
    if closes:
        session.execute(_CLOSE_CATEGORY, closes)
    if opens:
        session.execute(insert(_CATEGORIES), opens)
    return len(changed)


# -- warnings --------------------------------------------------------------------------------------


@dataclass
class _Open:
    """An OPEN, ASSIGNED or VERIFIED warning as stored (without its evidence: see the digest)."""

    id: int
    household_id: int
    rule: str
    level: int
    digest: str | None
    notified: int  # level code last announced, -1 for none
    visit_due_by: datetime
    raised_at: datetime


def _write_warnings(
    session: Session,
    pm: pluggy.PluginManager,
    batch: HouseholdBatch,
    parameters: Parameters,
    detections: dict[str, tuple[Provided[WarningRule], Detection]],
    in_batch: Any,
    outcome: _Outcome,
) -> None:
    """Raise new warnings and update the open ones whose digest or level changed (see the module)."""
    now = datetime.now(UTC)
    n = len(batch)
    open_by_key = _open_warnings(session, in_batch)
    closed = _closed_warnings(session, in_batch)
    visit_days: dict[int, np.ndarray] = {}
    # With nobody listening to safetynet_warning_raised there is nothing to announce: warnings are
    # written as announced, and no event is built.
    listening = bool(pm.hook.safetynet_warning_raised.get_hookimpls())

    def due(level: int, i: int) -> datetime:
        if level not in visit_days:
            name = f"warning.visit_days.{LEVELS[level].name.lower()}"
            visit_days[level] = np.nan_to_num(np.asarray(parameters[name].values, dtype=np.float64))
        return now + timedelta(days=float(visit_days[level][i]))

    new_rows: list[dict[str, Any]] = []
    new_routes: list[tuple[str, ...]] = []
    new_events: list[WarningEvent] = []
    updates: list[dict[str, Any]] = []
    rerouted: list[tuple[int, tuple[str, ...]]] = []  # (open warning, the departments it should have)
    for code, (provided, detection) in detections.items():
        rule = provided.item
        raised = np.flatnonzero(np.asarray(detection.raised, dtype=bool))
        if not len(raised):
            continue
        default_level = LEVELS.index(rule.level)
        digests = evidence_digests(
            detection.evidence, (detection.member_id, detection.aid_type_code, detection.basis), n
        )
        for i in raised.tolist():
            household_id = int(batch.household_id[i])
            level = _level_at(detection, i, default_level)
            digest = hex_digest(digests[i])
            basis = _str_at(detection.basis, i) or digest
            existing = open_by_key.get((household_id, code))
            if existing is not None:
                kept_level = max(level, existing.level)
                changed = level > existing.level or digest != existing.digest
                if not changed and kept_level <= existing.notified:
                    continue  # the common case of a repeated sweep: nothing formatted, nothing written
                reasons = detection.evidence_for(i)
                event = _event(existing.id, batch, i, code, kept_level, reasons, existing.raised_at)
                if changed:
                    deadline = _aware(existing.visit_due_by)
                    if level > existing.level:
                        deadline = min(deadline, due(kept_level, i))
                    updates.append(
                        {
                            "k_id": existing.id,
                            "v_evidence": [_reason_json(r) for r in reasons],
                            "v_digest": digest,
                            "v_level": LEVELS[kept_level],
                            "v_member": _int_at(detection.member_id, i) or None,
                            "v_aid": _str_at(detection.aid_type_code, i) or None,
                            "v_basis": basis,
                            "v_due": deadline,
                            "v_notified": _level_or_none(kept_level if not listening else existing.notified),
                            "v_now": now,
                        }
                    )
                    rerouted.append(
                        (existing.id, _routes(pm, rule, _departments_at(detection.departments, i), event))
                    )
                if kept_level > existing.notified and (listening or not changed):
                    outcome.events.append((existing.id, event))  # (without listeners: only recorded)
                continue
            if closed.get((household_id, code, basis), -1) >= level:
                continue  # resolved or dismissed already, for the same thing, at least as high
            reasons = detection.evidence_for(i)
            event = _event(None, batch, i, code, level, reasons, now)
            new_rows.append(
                {
                    "household_id": household_id,
                    "rule": code,
                    "level": LEVELS[level],
                    "status": Status.OPEN,
                    "raised_at": now,
                    "visit_due_by": due(level, i),
                    "evidence": [_reason_json(r) for r in reasons],
                    "evidence_digest": digest,
                    "member_id": _int_at(detection.member_id, i) or None,
                    "aid_type_code": _str_at(detection.aid_type_code, i) or None,
                    "basis": basis,
                    "notified_level": None if listening else LEVELS[level],
                    "updated_at": now,
                }
            )
            new_routes.append(_routes(pm, rule, _departments_at(detection.departments, i), event))
            new_events.append(event)
    if updates:
        session.execute(_UPDATE_WARNING, updates)
        outcome.warnings_updated = len(updates)
    if rerouted:
        routes = _routes_of(session, [warning_id for warning_id, _ in rerouted])
        added = [
            {"warning_id": warning_id, "department": d}
            for warning_id, wanted in rerouted
            for d in wanted
            if d not in routes.get(warning_id, ())
        ]
        if added:
            session.execute(insert(_ROUTES), added)
    if new_rows:
        session.execute(insert(_WARNINGS), new_rows)
        ids = _new_ids(session, in_batch, now, [(row["household_id"], row["rule"]) for row in new_rows])
        route_rows = [
            {"warning_id": warning_id, "department": d}
            for warning_id, departments in zip(ids, new_routes, strict=True)
            for d in departments
        ]
        if route_rows:
            session.execute(insert(_ROUTES), route_rows)
        if listening:
            for warning_id, event in zip(ids, new_events, strict=True):
                outcome.events.append((warning_id, _with_id(event, warning_id)))
        outcome.warnings_raised = len(ids)


def _new_ids(session: Session, in_batch: Any, now: datetime, keys: list[tuple[int, str]]) -> list[int]:
    """The ids of the warnings just inserted, in the order of ``keys``.

    One statement instead of RETURNING, which SQLite would answer one row at a time: a new warning is
    the only open one of its rule for its household, raised at this batch's ``now``.
    """
    found = {
        (household_id, rule): warning_id
        for warning_id, household_id, rule in session.execute(
            select(Warning.id, Warning.household_id, Warning.rule).where(
                Warning.household_id.in_(in_batch),
                Warning.raised_at == now,
                Warning.status.in_(OPEN_STATUSES),
            )
        )
    }
    return [found[key] for key in keys]


def _open_warnings(session: Session, in_batch: Any) -> dict[tuple[int, str], _Open]:
    rows = session.execute(
        select(
            Warning.id,
            Warning.household_id,
            Warning.rule,
            Warning.level,
            Warning.evidence_digest,
            Warning.notified_level,
            Warning.visit_due_by,
            Warning.raised_at,
        )
        .where(Warning.household_id.in_(in_batch), Warning.status.in_(OPEN_STATUSES))
        .order_by(Warning.id)
    ).all()
    found: dict[tuple[int, str], _Open] = {}
    for r in rows:  # the newest open warning wins if there were ever two
        found[(r.household_id, r.rule)] = _Open(
            id=r.id,
            household_id=r.household_id,
            rule=r.rule,
            level=LEVELS.index(r.level),
            digest=r.evidence_digest,
            notified=-1 if r.notified_level is None else LEVELS.index(r.notified_level),
            visit_due_by=r.visit_due_by,
            raised_at=r.raised_at,
        )
    return found


def _closed_warnings(session: Session, in_batch: Any) -> dict[tuple[int, str, str | None], int]:
    """(household, rule, basis) → the highest level resolved or dismissed."""
    found: dict[tuple[int, str, str | None], int] = {}
    for household_id, rule, basis, level in session.execute(
        select(Warning.household_id, Warning.rule, Warning.basis, Warning.level).where(
            Warning.household_id.in_(in_batch), Warning.status.in_(CLOSED_STATUSES)
        )
    ):
        key = (household_id, rule, basis)
        found[key] = max(found.get(key, -1), LEVELS.index(level))
    return found


def _routes_of(session: Session, warning_ids: Sequence[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(warning_ids), _IN_LIST):
        chunk = warning_ids[start : start + _IN_LIST]
        for warning_id, department in session.execute(
            select(WarningRoute.warning_id, WarningRoute.department).where(WarningRoute.warning_id.in_(chunk))
        ):
            found[warning_id].add(department)
    return found


def _routes(
    pm: pluggy.PluginManager, rule: WarningRule, extra: tuple[str, ...], event: WarningEvent
) -> tuple[str, ...]:
    """The rule's departments ∪ the detection's ∪ every plugin's answer (分类推送), sorted."""
    departments = set(rule.departments) | set(extra)
    for answer in pm.hook.safetynet_route_warning(event=event, rule=rule):
        departments.update(answer or ())
    return tuple(sorted(d for d in departments if d))


def _event(
    warning_id: int | None,
    batch: HouseholdBatch,
    i: int,
    rule: str,
    level: int,
    reasons: list[Reason],
    raised_at: datetime,
) -> WarningEvent:
    return WarningEvent(
        warning_id=warning_id,
        household_id=int(batch.household_id[i]),
        locality_code=str(batch.locality_code[i]),
        rule=rule,
        level=LEVELS[level],
        evidence=tuple(reasons),
        raised_at=_aware(raised_at),
    )


def _with_id(event: WarningEvent, warning_id: int) -> WarningEvent:
    return WarningEvent(
        warning_id=warning_id,
        household_id=event.household_id,
        locality_code=event.locality_code,
        rule=event.rule,
        level=event.level,
        evidence=event.evidence,
        raised_at=event.raised_at,
    )


def _pending(session: Session, prefix: str) -> list[tuple[int, WarningEvent]]:
    """Open warnings of the area not yet announced at their level (a sweep was killed in between)."""
    rows = session.execute(
        select(
            Warning.id,
            Warning.household_id,
            Household.locality_code,
            Warning.rule,
            Warning.level,
            Warning.evidence,
            Warning.raised_at,
        )
        .join(Household, Household.id == Warning.household_id)
        .where(
            household_filter(prefix=prefix),
            Warning.status.in_(OPEN_STATUSES),
            or_(Warning.notified_level.is_(None), Warning.notified_level != Warning.level),
        )
        .order_by(Warning.id)
    ).all()
    return [
        (
            r.id,
            WarningEvent(
                warning_id=r.id,
                household_id=r.household_id,
                locality_code=r.locality_code,
                rule=r.rule,
                level=r.level,
                evidence=tuple(reason_from_json(e) for e in r.evidence or []),
                raised_at=_aware(r.raised_at),
            ),
        )
        for r in rows
    ]


def _level_or_none(code: int) -> WarningLevel | None:
    return LEVELS[code] if code >= 0 else None


def _level_at(detection: Detection, i: int, default: int) -> int:
    if detection.level is None:
        return default
    code = int(detection.level[i])
    if not 0 <= code < len(LEVELS):
        raise RuleError(
            f"warning level code {code} is not one of 0–{len(LEVELS) - 1} (code_of(WarningLevel.X))"
        )
    return code


def _int_at(column: np.ndarray | None, i: int) -> int:
    return 0 if column is None else int(column[i])


def _str_at(column: np.ndarray | None, i: int) -> str:
    if column is None:
        return ""
    value = column[i]
    return "" if value is None else str(value)


def _departments_at(column: np.ndarray | None, i: int) -> tuple[str, ...]:
    if column is None or column[i] is None:
        return ()
    value = column[i]
    return (value,) if isinstance(value, str) else tuple(value)


def _reason_json(reason: Reason) -> dict[str, Any]:
    return {
        "code": reason.code,
        "message": reason.message,
        "parameters": [_parameter_json(p) for p in reason.parameters],
    }


_PARAMETER_JSON: dict[int, tuple[ParameterUse, dict[str, Any]]] = {}


def _parameter_json(use: ParameterUse) -> dict[str, Any]:
    """A parameter use as stored in evidence. A batch's few distinct uses are the same objects over and
    over, so they are kept by identity (with the object, so the id is not reused) for the batch."""
    known = _PARAMETER_JSON.get(id(use))
    if known is not None and known[0] is use:
        return known[1]
    if len(_PARAMETER_JSON) > 10_000:
        _PARAMETER_JSON.clear()
    _PARAMETER_JSON[id(use)] = (use, _parameter_dict(use))
    return _PARAMETER_JSON[id(use)][1]


def _parameter_dict(use: ParameterUse) -> dict[str, Any]:
    return {
        "name": use.name,
        "locality_code": use.locality_code,
        "value": use.display_value,
        "unit": use.unit,
        "effective_from": use.effective_from.isoformat(),
        "source": use.source,
        "illustrative": use.illustrative,
    }


def reason_from_json(data: dict[str, Any]) -> Reason:
    """A stored evidence entry back as a :class:`~safetynet.model.Reason`."""
    return Reason(
        code=data["code"],
        message=data["message"],
        parameters=tuple(
            ParameterUse(
                name=p["name"],
                locality_code=p["locality_code"],
                unit=p.get("unit", ""),
                value=Decimal(str(p["value"])),
                effective_from=date.fromisoformat(str(p["effective_from"])),
                source=p["source"],
                illustrative=bool(p["illustrative"]),
            )
            for p in data.get("parameters", [])
        ),
    )


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------------
# Announcing (safetynet_warning_raised), after each committed batch
# ------------------------------------------------------------------------------------------------


class _Announcer:
    """Calls ``safetynet_warning_raised`` for a batch's events and records the level announced.

    Plugins' awaitables run on ``loop`` when given (the caller's loop, from a worker thread), else on
    an event loop of this thread kept for the whole sweep, or, if this thread is already running a loop,
    on a helper thread.
    """

    def __init__(self, pm: pluggy.PluginManager, loop: asyncio.AbstractEventLoop | None) -> None:
        self.pm = pm
        self.loop = loop
        self.runner: asyncio.Runner | None = None

    def announce(self, database: Any, events: list[tuple[int, WarningEvent]]) -> None:
        if not events:
            return
        if self.pm.hook.safetynet_warning_raised.get_hookimpls():  # nobody listening: just record
            self._run(self._notify_all([event for _, event in events]))
        by_level: dict[WarningLevel, list[int]] = defaultdict(list)
        for warning_id, event in events:
            by_level[event.level].append(warning_id)

        def record(session: Session) -> None:
            for level, ids in by_level.items():
                for start in range(0, len(ids), _IN_LIST):
                    session.execute(
                        update(Warning)
                        .where(Warning.id.in_(ids[start : start + _IN_LIST]))
                        .values(notified_level=level)
                    )

        database.run(record)

    async def _notify_all(self, events: list[WarningEvent]) -> None:
        for event in events:
            await notify(self.pm, "safetynet_warning_raised", event=event)

    def _run(self, coroutine: Any) -> None:
        running = _running_loop()
        if self.loop is not None and self.loop is not running and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()
        elif running is None:
            if self.runner is None:
                self.runner = asyncio.Runner()
            self.runner.run(coroutine)
        else:
            with concurrent.futures.ThreadPoolExecutor(1) as helper:
                helper.submit(asyncio.run, coroutine).result()

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
