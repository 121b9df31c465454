"""Results of vectorised rules, with reasons kept as columns and spelled out only when asked.

A rule states each reason once for the whole batch::

    because(below, "INCOME_BELOW_STANDARD",
            "per-capita income {income} < dibao standard {standard}",
            income=yuan(per_capita), standard=standard)

and ``Assessment.reasons_for(i)`` turns the reasons whose mask holds for household ``i`` into
:class:`~safetynet.model.Reason` values, naming every parameter used with its locality, date and source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from safetynet.model import ParameterUse, Reason, format_yuan

from .parameters import ParamColumn


@dataclass(frozen=True)
class Yuan:
    """Marks an array of fen so that reasons print it as yuan (``52000`` → ``520.00``)."""

    fen: np.ndarray


def yuan(fen: np.ndarray) -> Yuan:
    return Yuan(np.asarray(fen))


@dataclass(frozen=True)
class Because:
    """A reason that applies to the households where ``mask`` is True."""

    mask: np.ndarray
    code: str
    message: str
    values: Mapping[str, Any]

    def explain(self, i: int) -> Reason:
        words: dict[str, str] = {}
        used: list[ParameterUse] = []
        for key, value in self.values.items():
            if isinstance(value, ParamColumn):
                use = value.use(i)
                words[key] = use.display_value if use else "(not set)"
                if use:
                    used.append(use)
            elif isinstance(value, Yuan):
                words[key] = format_yuan(int(value.fen[i]))
            elif isinstance(value, np.ndarray):
                words[key] = _plain(value[i])
            else:
                words[key] = _plain(value)
        return Reason(code=self.code, message=self.message.format(**words), parameters=tuple(used))


def because(mask: np.ndarray | bool, code: str, message: str, **values: Any) -> Because:
    return Because(mask=np.asarray(mask), code=code, message=message, values=values)


def _plain(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value.item() if isinstance(value, np.generic) else value)


@dataclass
class Assessment:
    """One aid type's answer for every household of a batch."""

    eligible: np.ndarray  # bool
    reasons: Sequence[Because]
    monthly_amount_fen: np.ndarray | None = None  # int64; None when the aid has no monthly cash
    one_off_amount_fen: np.ndarray | None = None
    #: Further named columns a rule wants to expose (e.g. ``self_care_level`` codes).
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def reasons_for(self, i: int) -> list[Reason]:
        return [b.explain(i) for b in self.reasons if _holds(b.mask, i)]


@dataclass
class Detection:
    """A warning rule's answer: which households to warn, and the evidence for each.

    The optional columns (one value per household of the batch) say more about each warning:

    * ``level``: small-integer codes of :class:`~safetynet.model.WarningLevel` (``code_of``), for a rule
      that raises a worse case higher than its default ``WarningRule.level``;
    * ``member_id``: the member the warning is about (0: the whole household);
    * ``aid_type_code``: the aid type concerned ("" for none), e.g. the one to enrol in or to end;
    * ``departments``: tuples of departments to route to besides the rule's own (e.g. the department
      of the aid type that was not delivered);
    * ``basis``: what the warning is about, e.g. the date of the record that triggered it. A resolved or
      dismissed warning of the same rule for the same household with the same basis and at least the
      same level is not raised again; without a basis, the evidence itself (its digest) is the basis.
    """

    raised: np.ndarray  # bool
    evidence: Sequence[Because]
    level: np.ndarray | None = None  # int8 codes of WarningLevel
    member_id: np.ndarray | None = None  # int64
    aid_type_code: np.ndarray | None = None  # str
    departments: np.ndarray | None = None  # object: tuple[str, ...]
    basis: np.ndarray | None = None  # str

    def evidence_for(self, i: int) -> list[Reason]:
        return [b.explain(i) for b in self.evidence if _holds(b.mask, i)]


def _holds(mask: np.ndarray, i: int) -> bool:
    return bool(mask) if mask.ndim == 0 else bool(mask[i])
