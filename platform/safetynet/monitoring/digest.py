"""Vectorised 64-bit digests of a detection's evidence, one per household, stable across processes.

The sweep stores a digest with each warning and compares digests, not evidence text, so a sweep in which
nothing changed neither reads the stored evidence nor formats the new one. A digest covers everything
:meth:`~safetynet.rules.Because.explain` reads for a household — each reason's code, message template,
whether it holds there, and its values there (parameter uses with their locality, date and source;
amounts; numbers, dates and text) — plus the warning's member, aid type and basis. Equal inputs give
equal evidence; a change in any input gives (but for a 2⁻⁶⁴ chance) another digest.

Text is hashed with BLAKE2b (never Python's per-process ``hash``), numbers by their bits, and columns are
combined with a 64-bit mix in NumPy, so the cost is a few array operations per reason and value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from safetynet.rules import Because, ParamColumn, Yuan

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ABSENT = np.uint64(0x2545F4914F6CDD1D)  # a reason that does not hold for the household


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


def column_digest(value: Any, n: int) -> np.ndarray:
    """One uint64 per household for a reason's value (as ``Because.explain`` would read it)."""
    if isinstance(value, ParamColumn):
        uses = [
            text_hash(
                f"{u.name}|{u.locality_code}|{u.display_value}|{u.effective_from}|{u.source}|{u.illustrative}"
            )
            for u in value.uses
        ]
        table = np.asarray([*uses, text_hash("(not set)")], dtype=np.uint64)
        index = np.asarray(value.use_index)
        return table[np.where(index >= 0, index, len(uses))]
    if isinstance(value, Yuan):
        value = value.fen
    if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) == n:
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
        return table[inverse] if len(uniques) else np.zeros(n, dtype=np.uint64)
    return _constant(n, repr(value.tolist() if isinstance(value, np.ndarray | np.generic) else value))


def evidence_digests(evidence: Sequence[Because], extra: Sequence[np.ndarray | None], n: int) -> np.ndarray:
    """uint64 digests of ``evidence`` for each of ``n`` households, with ``extra`` columns folded in."""
    digest = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for reason in evidence:
            h = _constant(n, f"{reason.code}\0{reason.message}")
            for key in sorted(reason.values):
                h = _mix(_mix(h, _constant(n, key)), column_digest(reason.values[key], n))
            mask = np.broadcast_to(np.asarray(reason.mask, dtype=bool), (n,))
            digest = _mix(digest, np.where(mask, h, _ABSENT))
        for column in extra:
            digest = _mix(
                digest, _constant(n, "-") if column is None else column_digest(np.asarray(column), n)
            )
        return _finish(digest)


def hex_digest(value: np.uint64 | int) -> str:
    return f"{int(value):016x}"
