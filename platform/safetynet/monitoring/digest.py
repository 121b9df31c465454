"""Vectorised 64-bit digests of a detection's evidence, one per household, stable across processes.

The sweep stores a digest with each warning and compares digests, not evidence text, so a sweep in which
nothing changed neither reads the stored evidence nor formats the new one. A digest covers everything
:meth:`~safetynet.rules.Because.explain` reads for a household — the reasons that hold there, in order,
each with its code, message template and values there (parameter uses with their locality, date and
source; amounts; numbers, dates and text) — plus the warning's member, aid type and basis, and nothing
about the other households of the batch. Equal inputs give equal evidence; a change in any input gives
(but for a 2⁻⁶⁴ chance) another digest.

Text is hashed with BLAKE2b (never Python's per-process ``hash``), numbers by their bits, and columns are
combined with a 64-bit mix in NumPy, so the cost is a few array operations per reason and value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from safetynet.model import ParameterUse
from safetynet.rules import Because, ParamColumn, Yuan

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def text_hash(text: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little"))


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Combine two uint64 columns (wrapping arithmetic; order matters)."""
    return a ^ (b + _GOLDEN + (a << np.uint64(6)) + (a >> np.uint64(2)))


def _finish(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: spreads every input bit over the output."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _constant(n: int, text: str) -> np.ndarray:
    return np.full(n, text_hash(text), dtype=np.uint64)


def column_digest(value: Any, n: int, rows: np.ndarray) -> np.ndarray:
    """One uint64 per household of ``rows`` (positions in a batch of ``n``) for a reason's value (as
    ``Because.explain`` would read it)."""
    if isinstance(value, ParamColumn):
        index = np.asarray(value.use_index)[rows]
        wanted = np.unique(index[index >= 0])
        table = np.zeros(len(value.uses) + 1, dtype=np.uint64)
        for j in wanted.tolist():
            table[j] = _use_hash(value.uses[j])
        table[-1] = text_hash("(not set)")
        return table[index]  # index -1: not set
    if isinstance(value, Yuan):
        value = value.fen
    if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) == n:
        value = value[rows]
        kind = value.dtype.kind
        if kind in "biu":
            return value.astype(np.int64).view(np.uint64)
        if kind == "f":
            return value.astype(np.float64).view(np.uint64)
        if kind in "mM":
            return value.view(np.int64).view(np.uint64)
        texts = value.astype(str)
        uniques, inverse = np.unique(texts, return_inverse=True)
        table = np.asarray([text_hash(str(u)) for u in uniques], dtype=np.uint64)
        return table[inverse] if len(uniques) else np.zeros(len(rows), dtype=np.uint64)
    return _constant(len(rows), repr(value.tolist() if isinstance(value, np.ndarray | np.generic) else value))


_USE_HASHES: dict[int, tuple[ParameterUse, np.uint64]] = {}


def _use_hash(use: ParameterUse) -> np.uint64:
    """The hash of a parameter use, kept by identity (with the use, so that its id is not reused): the
    locality registry hands out the same few uses batch after batch."""
    known = _USE_HASHES.get(id(use))
    if known is not None and known[0] is use:
        return known[1]
    if len(_USE_HASHES) > 10_000:
        _USE_HASHES.clear()
    found = text_hash(
        f"{use.name}|{use.locality_code}|{use.display_value}|{use.effective_from}|{use.source}|{use.illustrative}"
    )
    _USE_HASHES[id(use)] = (use, found)
    return found


def evidence_digests(
    evidence: Sequence[Because], extra: Sequence[np.ndarray | None], n: int, rows: np.ndarray
) -> np.ndarray:
    """uint64 digests of ``evidence`` for the households at ``rows`` of a batch of ``n``, with ``extra``
    columns folded in. A household's digest does not depend on which others are asked for."""
    m = len(rows)
    digest = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for reason in evidence:
            h = _constant(m, f"{reason.code}\0{reason.message}")
            for key in sorted(reason.values):
                h = _mix(_mix(h, _constant(m, key)), column_digest(reason.values[key], n, rows))
            # Only the reasons that hold count: the others a rule lists depend on the rest of the batch.
            mask = np.broadcast_to(np.asarray(reason.mask, dtype=bool), (n,))[rows]
            digest = np.where(mask, _mix(digest, h), digest)
        for column in extra:
            digest = _mix(
                digest, _constant(m, "-") if column is None else column_digest(np.asarray(column), n, rows)
            )
        return _finish(digest)


def hex_digest(value: np.uint64 | int) -> str:
    return f"{int(value):016x}"
