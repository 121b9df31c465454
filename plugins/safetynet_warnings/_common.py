"""Helpers shared by the built-in warning rules. Not a plugin: no hooks, no entry point.

Plain NumPy over a :class:`~safetynet.rules.HouseholdBatch` and its signals, built only on
``safetynet.model`` and ``safetynet.rules``, so a county that copies a rule into its own package copies
this file with it. Every reduction is deterministic (ties are broken by the signal's own fields), so
the same data always gives the same evidence and a repeated sweep writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from safetynet.model import AidTier, Relation, WarningLevel, code_of
from safetynet.rules import SIGNAL_LOOKBACK_DAYS, Assessment, Because, HouseholdBatch, ParamColumn

RELATION_NAMES = np.array([r.name for r in Relation])
NO_DATE = np.datetime64("NaT", "D")


def level_codes(n: int, default: WarningLevel) -> np.ndarray:
    """A level column (``code_of`` codes) with every household at ``default``."""
    return np.full(n, code_of(default), dtype=np.int8)


def raise_where(levels: np.ndarray, mask: np.ndarray, level: WarningLevel) -> np.ndarray:
    """Households where ``mask`` holds get at least ``level``."""
    return np.where(mask, np.maximum(levels, code_of(level)), levels).astype(np.int8)


def whole_days(column: ParamColumn) -> np.ndarray:
    """A ``days`` parameter as whole days per household (0 where not set)."""
    return np.nan_to_num(np.asarray(column.values, dtype=np.float64)).astype(np.int64)


def signal_mask(
    households: HouseholdBatch,
    source: str,
    kinds: Sequence[str] = (),
    within_days: np.ndarray | int = SIGNAL_LOOKBACK_DAYS,
) -> np.ndarray:
    """Signals from ``source`` (of ``kinds``) in the ``within_days`` up to the batch date.

    ``within_days`` may be one number or a per-household column (e.g. a locality parameter).
    """
    s = households.signals
    day = np.datetime64(households.as_of, "D")
    window = np.asarray(within_days, dtype=np.int64)
    if window.ndim:
        window = window[s.household_index]
    mask = (
        (s.source == source)
        & (s.occurred_on <= day)
        & (s.occurred_on > day - window.astype("timedelta64[D]"))
    )
    if kinds:
        mask &= np.isin(s.kind, list(kinds))
    return mask


def _order(households: HouseholdBatch, mask: np.ndarray) -> np.ndarray:
    """Indices of the selected signals, oldest first, ties broken by member, kind, amount and value."""
    s = households.signals
    chosen = np.flatnonzero(mask)
    keys = (s.value[chosen], s.amount_fen[chosen], s.kind[chosen], s.member_id[chosen], s.occurred_on[chosen])
    return chosen[np.lexsort(keys)]


def latest_signal(households: HouseholdBatch, mask: np.ndarray) -> np.ndarray:
    """Per household, the index of its latest selected signal (-1 where none)."""
    out = np.full(len(households), -1, dtype=np.int64)
    order = _order(households, mask)
    out[households.signals.household_index[order]] = order  # later signals overwrite earlier ones
    return out


def latest_per_member(households: HouseholdBatch, mask: np.ndarray) -> np.ndarray:
    """Indices of the latest selected signal of each member (one per member id), oldest first."""
    s = households.signals
    order = _order(households, mask)
    if not len(order):
        return order
    members = s.member_id[order]
    by_member = np.lexsort((np.arange(len(order)), members))  # stable: keeps date order within a member
    grouped = order[by_member]
    last = np.r_[members[by_member][1:] != members[by_member][:-1], True]
    latest = grouped[last]
    return latest[np.argsort(s.occurred_on[latest], kind="stable")]


def pick(households: HouseholdBatch, index: np.ndarray, column: np.ndarray, empty: Any) -> np.ndarray:
    """Per household, ``column[index]`` of its chosen signal, ``empty`` where it has none."""
    safe = np.maximum(index, 0)
    values = np.asarray(column)[safe] if len(column) else np.full(len(index), empty)
    return np.where(index >= 0, values, empty)


def member_words(households: HouseholdBatch, member_ids: np.ndarray) -> np.ndarray:
    """``"SPOUSE, 54"`` for each member id (relation and age; never a name), ``"member 7"`` if unknown.

    The members are found by sorted search and each distinct relation and age is spelled once.
    """
    wanted = np.asarray(member_ids, dtype=np.int64)
    words = np.empty(len(wanted), dtype=object)
    m = households.members
    known = np.asarray(m.member_id, dtype=np.int64)
    found = np.zeros(len(wanted), dtype=bool)
    if len(known) and len(wanted):
        order = np.argsort(known, kind="stable")
        at = order[np.minimum(np.searchsorted(known[order], wanted), len(known) - 1)]
        found = known[at] == wanted
        relation = np.asarray(m.relation, dtype=np.int64)[at[found]]
        age = np.asarray(m.age, dtype=np.int64)[at[found]]
        pairs, inverse = np.unique(np.stack([relation, age], axis=1), axis=0, return_inverse=True)
        spelled = np.asarray([f"{RELATION_NAMES[r]}, {a}" for r, a in pairs.tolist()], dtype=object)
        words[found] = spelled[inverse.ravel()]
    words[~found] = [f"member {member}" for member in wanted[~found].tolist()]
    return words


def annual_income_fen(households: HouseholdBatch) -> np.ndarray:
    """The household's current monthly income × 12 (fen)."""
    return households.monthly_income_fen * 12


def aid_types(context: Mapping[str, Any]) -> dict[str, Any]:
    """code → :class:`~safetynet.model.AidType` of the installed aid types (from the sweep's catalogue)."""
    catalogue = context.get("catalogue")
    if catalogue is None:
        return {}
    return {code: provided.item for code, provided in catalogue.aid_types.items()}


def aid_type_for(context: Mapping[str, Any], department: str, tier: AidTier = AidTier.SPECIAL) -> str:
    """The first installed aid type of ``tier`` run by ``department`` ("" if none), e.g. medical aid."""
    for code, aid in sorted(aid_types(context).items()):
        if aid.department == department and aid.tier is tier:
            return code
    return ""


def basic_living_in_force(
    households: HouseholdBatch, context: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """(households with basic-living aid in force, the first such aid type's code per household)."""
    codes = [code for code, aid in sorted(aid_types(context).items()) if aid.tier is AidTier.BASIC_LIVING]
    on = np.zeros(len(households), dtype=bool)
    first = np.full(len(households), "", dtype=object)
    for code in codes:
        active = households.has_active_aid(code)
        first = np.where(active & ~on, code, first)
        on |= active
    return on, first


def assessments(context: Mapping[str, Any]) -> Mapping[str, Assessment]:
    return context.get("assessments") or {}


def reasons_of(
    assessment: Assessment, mask: np.ndarray, *, codes: Iterable[str] | None = None
) -> list[Because]:
    """An aid type's own reasons, restricted to ``mask`` (and to ``codes`` if given), as evidence."""
    wanted = set(codes) if codes is not None else None
    out = []
    for reason in assessment.reasons:
        if wanted is not None and reason.code not in wanted:
            continue
        held = np.broadcast_to(np.asarray(reason.mask, dtype=bool), mask.shape)
        out.append(Because(mask=held & mask, code=reason.code, message=reason.message, values=reason.values))
    return out


def reason_mask(assessment: Assessment | None, code: str, n: int) -> np.ndarray:
    """Where an aid type gave the reason ``code`` (all False if it did not, or is not installed)."""
    if assessment is None:
        return np.zeros(n, dtype=bool)
    for reason in assessment.reasons:
        if reason.code == code:
            return np.broadcast_to(np.asarray(reason.mask, dtype=bool), (n,)).copy()
    return np.zeros(n, dtype=bool)


def join_codes(selected: Sequence[tuple[str, np.ndarray]], n: int) -> np.ndarray:
    """Per household, the codes whose mask holds, comma-separated in the given order ("" if none)."""
    out = np.full(n, "", dtype=object)
    for code, mask in selected:
        out = np.where(mask, np.where(out == "", code, out + "," + code), out)
    return out


def concat(*parts: np.ndarray | str, sep: str = ":") -> np.ndarray:
    """Element-wise ``"a:b:c"`` of columns (numbers, dates or strings) as an object array of str."""
    columns = [np.asarray(p).astype(str).astype(object) for p in parts if not isinstance(p, str)]
    out = columns[0]
    for column in columns[1:]:
        out = out + sep + column
    return out


def departments_column(selected: Sequence[tuple[str, np.ndarray]], n: int) -> np.ndarray:
    """Per household, the sorted tuple of departments whose mask holds (an object array of tuples).

    Households are grouped by which masks hold, so the Python work is per distinct combination.
    """
    pattern = np.zeros(n, dtype=np.int64)
    for k, (_, mask) in enumerate(selected):
        pattern |= np.asarray(mask, dtype=np.int64) << k
    out = np.empty(n, dtype=object)
    uniques, inverse = np.unique(pattern, return_inverse=True)
    combos = [
        tuple(sorted({d for k, (d, _) in enumerate(selected) if (int(p) >> k) & 1})) for p in uniques.tolist()
    ]
    table = np.empty(len(combos), dtype=object)
    for j, combo in enumerate(combos):  # one by one: a list of tuples would become a 2-D array
        table[j] = combo
    out[:] = table[inverse]
    return out


def first_code(selected: Sequence[tuple[str, np.ndarray]], n: int) -> np.ndarray:
    """Per household, the first code whose mask holds ("" if none)."""
    out = np.full(n, "", dtype=object)
    for code, mask in selected:
        out = np.where((out == "") & mask, code, out)
    return out
