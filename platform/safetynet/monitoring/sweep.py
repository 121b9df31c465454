"""The monitoring sweep (动态监测比对): assess every household, run every warning rule, write in bulk.

:func:`run_sweep` walks the households of an area in id order, in columnar batches
(:func:`safetynet.store.columns.load_batch`). For each batch it runs every aid type
(:func:`safetynet.assessments.assess_batch`) and every warning rule's ``detect(households, parameters,
context)`` with ``context = {"assessments": results, "catalogue": catalogue}``, then, in one transaction:

* **assessment_results**: nothing stored means "not eligible": a row is inserted when a household is
  first found eligible for an aid type, and updated whenever that answer changes (to not eligible
  too); a first sweep of a million households writes a few rows per eligible household, not fifteen
  per household. :func:`swept_households` tells which households a sweep has reached;
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

Everything is compared in NumPy or in one pass over the raised households; the writes are prepared
statements handed to the driver's ``executemany`` (:mod:`safetynet.store.rows`), never one ORM round
trip per household; evidence is formatted reason by reason over all the warnings to write
(:class:`~.evidence.Evidence`), and only for those. Unchanged data means no write at all besides the
sweep's own ``sweep_runs`` row, so a second sweep with nothing new writes nothing.

Where it is safe to fork (the command line; not a server's worker thread), each batch is read and
computed in a forked process while this one writes the previous batch (:func:`_sweep_forked`), so a
sweep uses both cores; the end state is the one a sweep in one process reaches.

After each committed batch, ``safetynet_warning_raised`` is called (through :func:`safetynet.plugins.notify`)
for every warning that is new, or open at a higher level than last announced (``notified_level``), and
the announced level is recorded, and the ids of the warnings raised or updated go to the live feed of the
``warnings`` subscription (:func:`safetynet.monitoring.warning_feed.announce`: nothing when nobody listens).
A sweep that was killed resumes after the last committed batch of the
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from typing import Any

import numpy as np
import pluggy
from sqlalchemy import String, case, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from safetynet.assessments import RuleError, assess_batch
from safetynet.catalogue import Catalogue, Provided
from safetynet.forked import can_fork, forked
from safetynet.model import LowIncomeCategory, Reason, WarningEvent, WarningLevel, WarningRule
from safetynet.model import WarningStatus as Status
from safetynet.plugins import notify
from safetynet.rules import Assessment, Detection, HouseholdBatch, ParameterError, Parameters
from safetynet.rules.parameters import LocalityRegistry
from safetynet.store.columns import household_filter, load_batch
from safetynet.store.db import Database, references_checked_by_caller
from safetynet.store.models import (
    AssessmentResult,
    Household,
    HouseholdCategory,
    SweepRun,
    Warning,
    WarningRoute,
)
from safetynet.store.rows import execute_many, fetch_rows, from_db, insert_sql, to_db, update_sql
from safetynet.store.wal import checkpoints_aside

from . import warning_feed
from .digest import evidence_digests, hex_digest
from .evidence import Evidence, reason_from_json

__all__ = ["DEFAULT_BATCH_SIZE", "OPEN_STATUSES", "SweepResult", "run_sweep", "swept_households"]

DEFAULT_BATCH_SIZE = 20_000
OPEN_STATUSES = (Status.OPEN, Status.ASSIGNED, Status.VERIFIED)
CLOSED_STATUSES = (Status.RESOLVED, Status.DISMISSED)
LEVELS = list(WarningLevel)  # index = level code, low to high
CATEGORIES = list(LowIncomeCategory)
NONE = -(2**62)  # an amount column the aid type does not have (stored as NULL)
_IN_LIST = 5_000  # values per SQL IN (…) list

# Bulk writes go to the driver (safetynet.store.rows): SQLAlchemy's per-row processing would cost more.
_RESULTS = AssessmentResult.__table__
_CATEGORIES = HouseholdCategory.__table__
_WARNINGS = Warning.__table__
_ROUTES = WarningRoute.__table__
_RESULT_COLUMNS = (
    "household_id",
    "aid_type_code",
    "eligible",
    "monthly_amount_fen",
    "one_off_amount_fen",
    "assessed_on",
)
_CATEGORY_BIT = {category.name: bit for bit, category in enumerate(CATEGORIES)}


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
    changed_warnings: list[int] = field(default_factory=list)  # raised or updated: for the live feed


def run_sweep(
    runtime: Any,
    as_of: date | None = None,
    locality_prefix: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    parallel: bool | None = None,
) -> SweepResult:
    """Sweep the households whose locality code starts with ``locality_prefix`` as of ``as_of``.

    ``progress(done, total)`` is called after each committed batch (and once at the start). ``loop``:
    the event loop to run plugins' awaitables on when called from a worker thread (see the module).
    ``parallel``: compute each batch in a forked process while this one writes the previous one (see
    :func:`_sweep_forked`); by default where that is safe (:func:`safetynet.forked.can_fork`: not from
    a server's worker thread).
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
        announcer.announce(database, database.run(lambda s: _pending(s, locality_prefix, runtime.localities)))
        if parallel if parallel is not None else can_fork():
            batches = _sweep_forked(runtime, run, as_of, locality_prefix, batch_size)
        else:
            batches = _sweep_here(runtime, run, as_of, locality_prefix, batch_size)
        for outcome, swept in batches:
            announcer.announce(database, outcome.events)
            warning_feed.announce(runtime, outcome.changed_warnings)
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


def swept_households(session: Session, household_ids: Sequence[int]) -> set[int]:
    """The households among ``household_ids`` that a sweep has assessed: a committed batch of a run whose
    area holds them reached them (``assessment_results`` alone cannot tell, since it stores nothing for a
    household found eligible for nothing)."""
    ids = list(household_ids)
    covered = (
        select(SweepRun.id)
        .where(
            SweepRun.last_household_id >= Household.id,
            func.substr(Household.locality_code, 1, func.length(SweepRun.locality_prefix))
            == SweepRun.locality_prefix,
        )
        .exists()
    )
    found: set[int] = set()
    for start in range(0, len(ids), _IN_LIST):
        chunk = ids[start : start + _IN_LIST]
        found.update(session.scalars(select(Household.id).where(Household.id.in_(chunk), covered)))
    return found


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


def _sweep_here(
    runtime: Any, run: SweepRun, as_of: date, prefix: str, batch_size: int
) -> Iterator[tuple[_Outcome, int]]:
    """The batches swept in this process, one transaction each."""
    with references_checked_by_caller(runtime.database) as write:
        while True:
            outcome, last, swept = write(lambda s: _sweep_next(s, runtime, run, as_of, prefix, batch_size))
            if last is None:
                return
            yield outcome, swept


def _sweep_next(
    session: Session, runtime: Any, run: SweepRun, as_of: date, prefix: str, batch_size: int
) -> tuple[_Outcome, int | None, int]:
    """Sweep the next batch after the run's last household, and record the progress, in one transaction."""
    current = session.get(SweepRun, run.id, populate_existing=True)
    assert current is not None
    ids = _next_ids(session, prefix, current.last_household_id or 0, batch_size)
    if not ids:
        return _Outcome(), None, 0
    outcome, swept = _sweep_range(session, runtime, run.id, as_of, prefix, (ids[0], ids[-1]))
    return outcome, ids[-1], swept


def _next_ids(session: Session, prefix: str, after: int, batch_size: int) -> list[int]:
    return list(
        session.scalars(
            select(Household.id)
            .where(household_filter(prefix=prefix), Household.id > after)
            .order_by(Household.id)
            .limit(batch_size)
        )
    )


def _sweep_range(
    session: Session, runtime: Any, run_id: int, as_of: date, prefix: str, id_range: tuple[int, int]
) -> tuple[_Outcome, int]:
    """Read, compute and write the batch of the households in ``id_range`` (and the area)."""
    where = household_filter(id_range=id_range, prefix=prefix)
    in_batch = select(Household.id).where(where)
    batch = load_batch(session, as_of, where)
    state = _read_state(session.connection(), in_batch)
    plan = _compute(runtime.catalogue, batch, state, with_reasons=_hooked(runtime.plugins))
    return _write_batch(session, runtime, run_id, id_range, plan, state, in_batch)


def _write_batch(
    session: Session,
    runtime: Any,
    run_id: int,
    id_range: tuple[int, int],
    plan: _Plan,
    state: _State,
    in_batch: Any,
) -> tuple[_Outcome, int]:
    """Write what changed for a computed batch, and the run's progress (``id_range``'s last id)."""
    outcome = _Outcome()
    if len(plan.household_id):
        outcome.assessments_changed = _write_assessments(session, plan, in_batch)
        outcome.categories_changed = _write_categories(session, plan, in_batch)
        rules = runtime.catalogue.warning_rules
        _write_warnings(session, rules, runtime.plugins, plan, state, in_batch, outcome)
    session.execute(
        update(SweepRun)
        .where(SweepRun.id == run_id)
        .values(
            last_household_id=id_range[1],
            households=SweepRun.households + len(plan.household_id),
            warnings_raised=SweepRun.warnings_raised + outcome.warnings_raised,
            warnings_updated=SweepRun.warnings_updated + outcome.warnings_updated,
            categories_changed=SweepRun.categories_changed + outcome.categories_changed,
            assessments_changed=SweepRun.assessments_changed + outcome.assessments_changed,
        )
    )
    return outcome, len(plan.household_id)


def _hooked(pm: pluggy.PluginManager) -> bool:
    """Whether a plugin listens to raised warnings or routes them (they then need events)."""
    return bool(
        pm.hook.safetynet_warning_raised.get_hookimpls() or pm.hook.safetynet_route_warning.get_hookimpls()
    )


# ------------------------------------------------------------------------------------------------
# Computing in a second process (both cores)
# ------------------------------------------------------------------------------------------------


class _Stale(Exception):
    """The stored warnings changed between computing a batch and writing it: sweep it again here."""


def _sweep_forked(
    runtime: Any, run: SweepRun, as_of: date, prefix: str, batch_size: int
) -> Iterator[tuple[_Outcome, int]]:
    """The batches computed in a forked process while this one writes the previous batch.

    The child reads each batch and the open and closed warnings of its households, and computes
    everything that depends on nothing else: assessments, categories, detections, digests, and the
    evidence of the warnings that will be written. Here, in the batch's write transaction, the stored
    state is read again and compared as in one process; should a warning need evidence the child did not
    format (someone changed the batch's warnings in between), the batch is swept again here, so the end
    state is the one a sweep in one process reaches.
    """
    start = run.last_household_id or 0
    computed = forked(
        lambda: _compute_batches(runtime, as_of, prefix, batch_size, start), name="safetynet-sweep-compute"
    )
    with (
        closing(computed),
        checkpoints_aside(runtime.database),
        references_checked_by_caller(runtime.database) as run_write,
    ):
        for id_range, plan in computed:
            where = household_filter(id_range=id_range, prefix=prefix)

            def write(session: Session, plan: _Plan = plan, where: Any = where, id_range=id_range):  # type: ignore[no-untyped-def]
                in_batch = select(Household.id).where(where)
                state = _read_state(session.connection(), in_batch)
                return _write_batch(session, runtime, run.id, id_range, plan, state, in_batch)

            try:
                yield run_write(write)
            except _Stale:
                yield run_write(
                    lambda s, id_range=id_range: _sweep_range(s, runtime, run.id, as_of, prefix, id_range)
                )


def _compute_batches(
    runtime: Any, as_of: date, prefix: str, batch_size: int, after: int
) -> Iterator[tuple[tuple[int, int], _Plan]]:
    """In the forked process, on connections of its own: each batch's id range and its computed plan."""
    database = Database(runtime.database.url)

    def compute(session: Session) -> tuple[tuple[int, int], _Plan] | None:
        ids = _next_ids(session, prefix, after, batch_size)
        if not ids:
            return None
        where = household_filter(id_range=(ids[0], ids[-1]), prefix=prefix)
        batch = load_batch(session, as_of, where)
        state = _read_state(session.connection(), select(Household.id).where(where))
        plan = _compute(runtime.catalogue, batch, state, with_reasons=_hooked(runtime.plugins))
        return (ids[0], ids[-1]), plan

    while (item := database.run(compute)) is not None:
        after = item[0][1]
        yield item


# ------------------------------------------------------------------------------------------------
# One batch: computing
# ------------------------------------------------------------------------------------------------


@dataclass
class _Raised:
    """One rule's raised households in a batch, as the writes need them (picklable).

    ``evidence`` (and ``reasons``, when asked for) are only there for the households whose warning was
    to be written by the stored state as read when computing.
    """

    code: str
    rows: list[int]  # positions in the batch
    levels: list[int]
    digests: list[str]
    bases: list[str]  # the rule's basis, else the digest
    members: list[int | None]
    aids: list[str | None]
    departments: list[tuple[str, ...]]
    evidence: dict[int, str]  # position → the evidence's JSON text
    reasons: dict[int, list[Reason]]


@dataclass
class _Plan:
    """A batch of households computed: what the writes compare with the stored state (picklable)."""

    as_of: date
    household_id: np.ndarray
    locality_code: np.ndarray
    codes: list[str]  # aid types, in the order of the matrices' columns
    eligible: np.ndarray  # (households, aid types) bool
    monthly: np.ndarray  # int64, NONE where the aid type has no such amount
    one_off: np.ndarray
    categories: np.ndarray  # bit masks, see category_bits
    raised: list[_Raised]
    visit_days: list[np.ndarray | str]  # per level: days per household, or why they are not set


@dataclass
class _State:
    """The batch's stored warnings that the writes depend on."""

    open: dict[tuple[int, str], _Open]
    closed: dict[tuple[int, str, str | None], int]  # (household, rule, basis) → highest level closed


def _read_state(connection: Any, in_batch: Any) -> _State:
    return _State(open=_open_warnings(connection, in_batch), closed=_closed_warnings(connection, in_batch))


def _compute(catalogue: Catalogue, batch: HouseholdBatch, state: _State, *, with_reasons: bool) -> _Plan:
    """Assess every aid type and run every warning rule for ``batch``; format the evidence of the
    warnings that ``state`` says will be written (with their reasons if ``with_reasons``)."""
    n = len(batch)
    results = assess_batch(catalogue, batch) if n else {}
    parameters = Parameters(catalogue.localities, batch.locality_code, batch.as_of)
    context = {"assessments": results, "catalogue": catalogue}
    codes = list(results)
    plan = _Plan(
        as_of=batch.as_of,
        household_id=batch.household_id,
        locality_code=batch.locality_code,
        codes=codes,
        eligible=np.stack([np.asarray(results[c].eligible, dtype=bool) for c in codes], axis=1)
        if codes
        else np.zeros((n, 0), dtype=bool),
        monthly=_matrix([results[c].monthly_amount_fen for c in codes], n),
        one_off=_matrix([results[c].one_off_amount_fen for c in codes], n),
        categories=category_bits(catalogue, results, n),
        raised=[],
        visit_days=[],
    )
    if not n:
        return plan
    for level in LEVELS:
        try:
            values = parameters[f"warning.visit_days.{level.name.lower()}"].values
            plan.visit_days.append(np.nan_to_num(np.asarray(values, dtype=np.float64)))
        except ParameterError as exc:  # an error only if a warning of this level is written
            plan.visit_days.append(str(exc))
    household_ids = batch.household_id.tolist()
    for code, provided in catalogue.warning_rules.items():
        detection = _detect(provided, batch, parameters, context)
        raised = np.flatnonzero(np.asarray(detection.raised, dtype=bool))
        if not len(raised):
            continue
        rows = raised.tolist()
        default_level = LEVELS.index(provided.item.level)
        digests = [
            hex_digest(d)
            for d in evidence_digests(
                detection.evidence, (detection.member_id, detection.aid_type_code, detection.basis), n, raised
            ).tolist()
        ]
        item = _Raised(
            code=code,
            rows=rows,
            levels=[_level_at(detection, i, default_level) for i in rows],
            digests=digests,
            bases=[_str_at(detection.basis, i) or d for i, d in zip(rows, digests, strict=True)],
            members=[_int_at(detection.member_id, i) or None for i in rows],
            aids=[_str_at(detection.aid_type_code, i) or None for i in rows],
            departments=[_departments_at(detection.departments, i) for i in rows],
            evidence={},
            reasons={},
        )
        wanted: list[int] = []
        updating = False  # updated warnings always get events (few)
        for i, level, digest, basis in zip(rows, item.levels, item.digests, item.bases, strict=True):
            write, existing = _decide(state, household_ids[i], code, level, digest, basis)
            if write:
                wanted.append(i)
                updating = updating or existing is not None
        if wanted:
            evidence = Evidence(detection, wanted, with_reasons=with_reasons or updating)
            item.evidence = {i: evidence.json(k) for k, i in enumerate(wanted)}
            if with_reasons or updating:
                item.reasons = {i: evidence.reasons(k) for k, i in enumerate(wanted)}
        plan.raised.append(item)
    return plan


def _decide(
    state: _State, household_id: int, code: str, level: int, digest: str, basis: str
) -> tuple[bool, _Open | None]:
    """Whether a raised warning is written (raised, updated or announced), and the open one it updates.

    Not when the open warning of the rule has the same evidence at least as high and is announced (the
    common case of a repeated sweep), nor when a resolved or dismissed one has the same basis and at
    least the same level.
    """
    existing = state.open.get((household_id, code))
    if existing is not None:
        quiet = level <= existing.level and digest == existing.digest and existing.level <= existing.notified
        return not quiet, existing
    return state.closed.get((household_id, code, basis), -1) < level, None


def _matrix(columns: list[np.ndarray | None], n: int) -> np.ndarray:
    """Amount columns side by side, NONE where an aid type has no such amount."""
    if not columns:
        return np.zeros((n, 0), dtype=np.int64)
    return np.stack([_amounts(c, n) for c in columns], axis=1)


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


def _write_assessments(session: Session, plan: _Plan, in_batch: Any) -> int:
    """Store the answers that differ from what is stored; returns how many rows were written.

    Nothing stored means "not eligible": a row is written when a household is first found eligible for
    an aid type, and from then on whenever its answer changes (to not eligible too, so ``assessed_on``
    says since when).
    """
    codes = plan.codes
    if not codes:
        return 0
    n, k = plan.eligible.shape
    eligible, monthly, one_off = plan.eligible, plan.monthly, plan.one_off
    connection = session.connection()
    column_of = case({c: j for j, c in enumerate(codes)}, value=AssessmentResult.aid_type_code, else_=-1)
    rows = fetch_rows(
        connection,
        select(
            AssessmentResult.household_id,
            column_of,
            AssessmentResult.eligible,
            func.coalesce(AssessmentResult.monthly_amount_fen, NONE),
            func.coalesce(AssessmentResult.one_off_amount_fen, NONE),
        ).where(AssessmentResult.household_id.in_(in_batch)),
    )
    stored = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=5 * len(rows)).reshape(-1, 5)
    stored = stored[stored[:, 1] >= 0]  # rows of aid types no longer installed are left as they are
    i = np.searchsorted(plan.household_id, stored[:, 0])
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
    rows_i, rows_j = np.nonzero(changed | (~present & eligible))
    if not len(rows_i):
        return 0
    dialect = connection.dialect
    yes = to_db(_RESULTS, "eligible", dialect)
    stored_bool = [yes(False), yes(True)]
    day = to_db(_RESULTS, "assessed_on", dialect)(plan.as_of)
    new = ~present[rows_i, rows_j]
    values = zip(
        plan.household_id[rows_i].tolist(),
        [codes[j] for j in rows_j.tolist()],
        [stored_bool[e] for e in eligible[rows_i, rows_j].tolist()],
        [None if v == NONE else v for v in monthly[rows_i, rows_j].tolist()],
        [None if v == NONE else v for v in one_off[rows_i, rows_j].tolist()],
        new.tolist(),
        strict=True,
    )
    inserts, updates = [], []
    for h, c, e, m, o, is_new in values:
        if is_new:
            inserts.append((h, c, e, m, o, day))
        else:
            updates.append((e, m, o, day, h, c))
    execute_many(connection, insert_sql(_RESULTS, _RESULT_COLUMNS, dialect), inserts)
    execute_many(connection, update_sql(_RESULTS, _RESULT_COLUMNS[2:], _RESULT_COLUMNS[:2], dialect), updates)
    return len(rows_i)


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


def _write_categories(session: Session, plan: _Plan, in_batch: Any) -> int:
    """Open and close category rows where a household's set changed; returns how many households changed."""
    n = len(plan.household_id)
    new = plan.categories
    connection = session.connection()
    stored = fetch_rows(
        connection,
        select(
            HouseholdCategory.id,
            HouseholdCategory.household_id,
            type_coerce(HouseholdCategory.category, String),
            HouseholdCategory.since,
        ).where(HouseholdCategory.household_id.in_(in_batch), HouseholdCategory.until.is_(None)),
    )
    old = np.zeros(n, dtype=np.int64)
    if stored:
        i = np.searchsorted(plan.household_id, np.asarray([r[1] for r in stored], dtype=np.int64))
        bit = np.asarray([1 << _CATEGORY_BIT[r[2]] for r in stored], dtype=np.int64)
        np.bitwise_or.at(old, i, bit)
    changed = np.flatnonzero(old != new)
    if not len(changed):
        return 0
    dialect = connection.dialect
    day, read_day = to_db(_CATEGORIES, "since", dialect), from_db(_CATEGORIES, "since", dialect)
    changed_set = set(plan.household_id[changed].tolist())
    closes = [
        (day(max(plan.as_of, read_day(since))), row_id)
        for row_id, household_id, category, since in stored
        if household_id in changed_set
        and not (new[np.searchsorted(plan.household_id, household_id)] >> _CATEGORY_BIT[category]) & 1
    ]
    today = day(plan.as_of)
    opens = [
        (household_id, category.name, today)
        for household_id, now_bits, old_bits in zip(
            plan.household_id[changed].tolist(), new[changed].tolist(), old[changed].tolist(), strict=True
        )
        for b, category in enumerate(CATEGORIES)
        if (now_bits >> b) & 1 and not (old_bits >> b) & 1
    ]
    execute_many(connection, update_sql(_CATEGORIES, ("until",), ("id",), dialect), closes)
    execute_many(connection, insert_sql(_CATEGORIES, ("household_id", "category", "since"), dialect), opens)
    return len(changed)


# -- warnings --------------------------------------------------------------------------------------


@dataclass
class _Open:
    """An OPEN, ASSIGNED or VERIFIED warning as stored, without its evidence (see the digest) and its
    times (read by :func:`_open_times` only for a batch with warnings to update)."""

    id: int
    level: int
    digest: str | None
    notified: int  # level code last announced, -1 for none


_WARNING_COLUMNS = (
    "household_id",
    "rule",
    "level",
    "status",
    "raised_at",
    "visit_due_by",
    "evidence",
    "evidence_digest",
    "member_id",
    "aid_type_code",
    "basis",
    "notified_level",
    "updated_at",
)
_WARNING_UPDATES = (
    "evidence",
    "evidence_digest",
    "level",
    "member_id",
    "aid_type_code",
    "basis",
    "visit_due_by",
    "notified_level",
    "updated_at",
)
_LEVEL_CODE = {level.name: code for code, level in enumerate(LEVELS)}


def _write_warnings(
    session: Session,
    rules: dict[str, Provided[WarningRule]],
    pm: pluggy.PluginManager,
    plan: _Plan,
    state: _State,
    in_batch: Any,
    outcome: _Outcome,
) -> None:
    """Raise new warnings and update the open ones whose digest or level changed (see the module).

    The evidence was formatted when computing, only for the warnings to write; events are built only
    when a plugin listens to ``safetynet_warning_raised`` or routes with ``safetynet_route_warning``
    (and for updated warnings, which are few).
    """
    now = datetime.now(UTC)
    connection = session.connection()
    dialect = connection.dialect
    stamp = to_db(_WARNINGS, "raised_at", dialect)
    moment = from_db(_WARNINGS, "raised_at", dialect)
    level_db = [to_db(_WARNINGS, "level", dialect)(level) for level in LEVELS]
    notified_db = [to_db(_WARNINGS, "notified_level", dialect)(level) for level in LEVELS]
    open_db = to_db(_WARNINGS, "status", dialect)(Status.OPEN)
    now_db = stamp(now)
    household_ids = plan.household_id.tolist()
    # With nobody listening to safetynet_warning_raised there is nothing to announce: warnings are
    # written as announced, and no event is built.
    listening = bool(pm.hook.safetynet_warning_raised.get_hookimpls())
    routing = bool(pm.hook.safetynet_route_warning.get_hookimpls())

    def due(level: int, i: int) -> datetime:
        days = plan.visit_days[level]
        if isinstance(days, str):
            raise ParameterError(days)
        return now + timedelta(days=float(days[i]))

    stored_due: dict[tuple[int, float], Any] = {}  # a locality's few deadlines, as stored

    def due_db(level: int, i: int) -> Any:
        days = plan.visit_days[level]
        key = (level, float(days[i]) if not isinstance(days, str) else 0.0)
        found = stored_due.get(key)
        if found is None:
            found = stored_due[key] = stamp(due(level, i))
        return found

    times: dict[int, tuple[Any, Any]] = {}  # open warning → (visit_due_by, raised_at), once needed

    def open_times(warning_id: int) -> tuple[Any, Any]:
        if not times:
            times.update(_open_times(connection, in_batch))
        return times[warning_id]

    routes: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}  # without routing hooks: by rule

    def routed(
        rule: WarningRule, departments: tuple[str, ...], event: WarningEvent | None
    ) -> tuple[str, ...]:
        if event is not None:
            return _routes(pm, rule, departments, event)
        key = (rule.code, departments)
        found = routes.get(key)
        if found is None:
            found = routes[key] = _routes(pm, rule, departments, None)
        return found

    def evidence(item: _Raised, i: int) -> str:
        found = item.evidence.get(i)
        if found is None:
            raise _Stale
        return found

    def event(item: _Raised, warning_id: int | None, i: int, level: int, raised_at: datetime) -> WarningEvent:
        reasons = item.reasons.get(i)
        if reasons is None:
            raise _Stale
        return WarningEvent(
            warning_id=warning_id,
            household_id=household_ids[i],
            locality_code=str(plan.locality_code[i]),
            rule=item.code,
            level=LEVELS[level],
            evidence=tuple(reasons),
            raised_at=_aware(raised_at),
        )

    new_rows: list[tuple[Any, ...]] = []
    new_routes: list[tuple[str, ...]] = []
    new_events: list[WarningEvent | None] = []
    updates: list[tuple[Any, ...]] = []
    rerouted: list[tuple[int, tuple[str, ...]]] = []  # (open warning, the departments it should have)
    for item in plan.raised:
        code = item.code
        rule = rules[code].item
        for i, level, digest, basis, member, aid, departments in zip(
            item.rows, item.levels, item.digests, item.bases, item.members, item.aids, item.departments,
            strict=True,
        ):  # fmt: skip
            write, existing = _decide(state, household_ids[i], code, level, digest, basis)
            if not write:
                continue
            if existing is not None:
                kept_level = max(level, existing.level)
                changed = level > existing.level or digest != existing.digest
                visit_due_by, raised_at = open_times(existing.id)
                announced = event(item, existing.id, i, kept_level, moment(raised_at))
                if changed:
                    deadline = _aware(moment(visit_due_by))
                    if level > existing.level:
                        deadline = min(deadline, due(kept_level, i))
                    notified = kept_level if not listening else existing.notified
                    updates.append(
                        (
                            evidence(item, i),
                            digest,
                            level_db[kept_level],
                            member,
                            aid,
                            basis,
                            stamp(deadline),
                            notified_db[notified] if notified >= 0 else None,
                            now_db,
                            existing.id,
                        )
                    )
                    rerouted.append((existing.id, routed(rule, departments, announced if routing else None)))
                if kept_level > existing.notified and (listening or not changed):
                    outcome.events.append((existing.id, announced))  # (without listeners: only recorded)
                continue
            raised = event(item, None, i, level, now) if listening or routing else None
            new_rows.append(
                (
                    household_ids[i],
                    code,
                    level_db[level],
                    open_db,
                    now_db,
                    due_db(level, i),
                    evidence(item, i),
                    digest,
                    member,
                    aid,
                    basis,
                    None if listening else notified_db[level],
                    now_db,
                )
            )
            new_routes.append(routed(rule, departments, raised if routing else None))
            new_events.append(raised)
    if updates:
        execute_many(connection, update_sql(_WARNINGS, _WARNING_UPDATES, ("id",), dialect), updates)
        outcome.warnings_updated = len(updates)
        outcome.changed_warnings += [row[-1] for row in updates]  # the key, the warning id, comes last
    route_sql = insert_sql(_ROUTES, ("warning_id", "department"), dialect)
    if rerouted:
        routes = _routes_of(connection, [warning_id for warning_id, _ in rerouted])
        added = [
            (warning_id, d)
            for warning_id, wanted_routes in rerouted
            for d in wanted_routes
            if d not in routes.get(warning_id, ())
        ]
        execute_many(connection, route_sql, added)
    if new_rows:
        # In household and rule order, so that the warnings' indexes grow at their end.
        order = sorted(range(len(new_rows)), key=lambda j: (new_rows[j][0], new_rows[j][1]))
        new_rows = [new_rows[j] for j in order]
        new_routes = [new_routes[j] for j in order]
        new_events = [new_events[j] for j in order]
        execute_many(connection, insert_sql(_WARNINGS, _WARNING_COLUMNS, dialect), new_rows)
        ids = _new_ids(connection, in_batch, now, [(row[0], row[1]) for row in new_rows])
        execute_many(
            connection,
            route_sql,
            [
                (warning_id, d)
                for warning_id, departments in zip(ids, new_routes, strict=True)
                for d in departments
            ],
        )
        if listening:
            for warning_id, event in zip(ids, new_events, strict=True):
                assert event is not None
                outcome.events.append((warning_id, _with_id(event, warning_id)))
        outcome.warnings_raised = len(ids)
        outcome.changed_warnings += ids


def _new_ids(connection: Any, in_batch: Any, now: datetime, keys: list[tuple[int, str]]) -> list[int]:
    """The ids of the warnings just inserted, in the order of ``keys``.

    One statement instead of RETURNING, which SQLite would answer one row at a time: a new warning is
    the only open one of its rule for its household, raised at this batch's ``now``.
    """
    found = {
        (household_id, rule): warning_id
        for warning_id, household_id, rule in fetch_rows(
            connection,
            select(Warning.id, Warning.household_id, Warning.rule).where(
                Warning.household_id.in_(in_batch),
                Warning.raised_at == now,
                Warning.status.in_(OPEN_STATUSES),
            ),
        )
    }
    return [found[key] for key in keys]


def _open_warnings(connection: Any, in_batch: Any) -> dict[tuple[int, str], _Open]:
    rows = fetch_rows(
        connection,
        select(
            Warning.id,
            Warning.household_id,
            Warning.rule,
            type_coerce(Warning.level, String),
            Warning.evidence_digest,
            type_coerce(Warning.notified_level, String),
        )
        .where(Warning.household_id.in_(in_batch), Warning.status.in_(OPEN_STATUSES))
        .order_by(Warning.id),
    )
    found: dict[tuple[int, str], _Open] = {}
    for warning_id, household_id, rule, level, digest, notified in rows:
        # the newest open warning wins if there were ever two
        found[(household_id, rule)] = _Open(
            id=warning_id,
            level=_LEVEL_CODE[level],
            digest=digest,
            notified=-1 if notified is None else _LEVEL_CODE[notified],
        )
    return found


def _open_times(connection: Any, in_batch: Any) -> dict[int, tuple[Any, Any]]:
    """Open warning id → (visit_due_by, raised_at) as the driver returns them, for the batch."""
    query = select(Warning.id, Warning.visit_due_by, Warning.raised_at).where(
        Warning.household_id.in_(in_batch), Warning.status.in_(OPEN_STATUSES)
    )
    return {warning_id: (due, raised) for warning_id, due, raised in fetch_rows(connection, query)}


def _closed_warnings(connection: Any, in_batch: Any) -> dict[tuple[int, str, str | None], int]:
    """(household, rule, basis) → the highest level resolved or dismissed."""
    found: dict[tuple[int, str, str | None], int] = {}
    for household_id, rule, basis, level in fetch_rows(
        connection,
        select(Warning.household_id, Warning.rule, Warning.basis, type_coerce(Warning.level, String)).where(
            Warning.household_id.in_(in_batch), Warning.status.in_(CLOSED_STATUSES)
        ),
    ):
        key = (household_id, rule, basis)
        found[key] = max(found.get(key, -1), _LEVEL_CODE[level])
    return found


def _routes_of(connection: Any, warning_ids: Sequence[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(warning_ids), _IN_LIST):
        chunk = warning_ids[start : start + _IN_LIST]
        for warning_id, department in fetch_rows(
            connection,
            select(WarningRoute.warning_id, WarningRoute.department).where(
                WarningRoute.warning_id.in_(chunk)
            ),
        ):
            found[warning_id].add(department)
    return found


def _routes(
    pm: pluggy.PluginManager, rule: WarningRule, extra: tuple[str, ...], event: WarningEvent | None
) -> tuple[str, ...]:
    """The rule's departments ∪ the detection's ∪ every plugin's answer (分类推送), sorted; without an
    event (no plugin routes), the rule's and the detection's."""
    departments = set(rule.departments) | set(extra)
    if event is not None:
        for answer in pm.hook.safetynet_route_warning(event=event, rule=rule):
            departments.update(answer or ())
    return tuple(sorted(d for d in departments if d))


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


def _pending(session: Session, prefix: str, localities: LocalityRegistry) -> list[tuple[int, WarningEvent]]:
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
                evidence=tuple(reason_from_json(e, localities) for e in r.evidence or []),
                raised_at=_aware(r.raised_at),
            ),
        )
        for r in rows
    ]


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
