"""A detection's evidence for many households at once, as the stored JSON text and as reasons.

:meth:`~safetynet.rules.Because.explain` formats one reason for one household; a first sweep of a million
households formats millions of them. :class:`Evidence` gives exactly what ``explain`` would, reason by
reason over all the households asked for: each value is turned into words once per distinct value
(parameter uses, yuan amounts), each message template is made positional once, and the JSON stored in
``warnings.evidence`` is assembled from text fragments (``json.dumps`` of the same structure with
:data:`COMPACT`, byte for byte). A template this cannot rewrite (e.g. a nested format specification) is
explained household by household, as before.

The stored form is compact, since a first sweep writes a million of them: no spaces, characters as
UTF-8 rather than ``\\u`` escapes, each reason a list ``[code, message, [parameter use, …]]`` and each
parameter use a list ``[name, locality code, value, effective from, unit, illustrative]``, without its
``source`` text, which :func:`parameter_use` takes back from the locality registry when the evidence is
read (name, locality and effective date identify the dated value; the value itself is stored, as the
figure the decision used). Evidence stored before in the form of objects (``{"code": …, "message": …,
"parameters": [{"name": …}]}``, as governance decisions still write it) reads the same.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from json.encoder import encode_basestring as quoted
from typing import Any

import numpy as np

from safetynet.model import ParameterUse, Reason, format_yuan
from safetynet.rules import Because, Detection, ParamColumn, Yuan
from safetynet.rules.assessment import _plain
from safetynet.rules.parameters import LocalityRegistry

__all__ = [
    "COMPACT",
    "Evidence",
    "code_and_message",
    "parameter_use",
    "reason_from_json",
    "stored_parameter",
    "stored_reason",
]

#: ``json.dumps`` keyword arguments for stored evidence.
COMPACT: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}
#: The ``source`` of a stored parameter use whose dated value no installed locality pack sets any more.
SOURCE_UNINSTALLED = "(the locality pack that set this value is no longer installed)"


class Evidence:
    """The evidence of ``detection`` for the households at ``rows`` (positions in its batch).

    ``json(k)`` is the stored JSON text for ``rows[k]``; ``reasons(k)`` the :class:`Reason` values (kept
    only when ``with_reasons``, for events and routing hooks).
    """

    def __init__(self, detection: Detection, rows: Sequence[int], *, with_reasons: bool) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        m = len(self.rows)
        self._json: list[list[str]] = [[] for _ in range(m)]
        self._reasons: list[list[Reason]] | None = [[] for _ in range(m)] if with_reasons else None
        for because in detection.evidence:
            self._add(because)

    def json(self, k: int) -> str:
        return "[" + ",".join(self._json[k]) + "]"

    def reasons(self, k: int) -> list[Reason]:
        if self._reasons is None:
            raise ValueError("Evidence(with_reasons=False) keeps no reasons")
        return self._reasons[k]

    def _add(self, because: Because) -> None:
        mask = np.asarray(because.mask)
        holds = np.flatnonzero(mask[self.rows]) if mask.ndim else np.arange(len(self.rows) if mask else 0)
        if not len(holds):
            return
        at = self.rows[holds]
        template = _positional(because.message, list(because.values))
        if template is None:  # explained one by one
            explained = [because.explain(int(i)) for i in at.tolist()]
            messages = [r.message for r in explained]
            uses = [r.parameters for r in explained]
            uses_json = [",".join(_parameter_json(u) for u in r.parameters) for r in explained]
        else:
            words = [_words(value, at) for value in because.values.values()]
            messages = (
                [template.format(*row) for row in zip(*words, strict=True)]
                if words
                else [template.format()] * len(at)
            )
            columns = [v for v in because.values.values() if isinstance(v, ParamColumn)]
            uses, uses_json = _parameters(columns, at)
        head = "[" + quoted(because.code) + ","
        store = self._json
        for k, message, fragment in zip(holds.tolist(), messages, uses_json, strict=True):
            store[k].append(head + quoted(message) + ",[" + fragment + "]]")
        if self._reasons is not None:
            keep = self._reasons
            code = because.code
            for k, message, used in zip(holds.tolist(), messages, uses, strict=True):
                keep[k].append(Reason(code=code, message=message, parameters=used))


def _positional(message: str, keys: list[str]) -> str | None:
    """``"income {income} < {standard}"`` → ``"income {0} < {1}"`` for ``keys`` ``[income, standard]``;
    None when the template uses anything but the keys with plain conversions and specifications."""
    index = {key: i for i, key in enumerate(keys)}
    parts: list[str] = []
    try:
        parsed = list(string.Formatter().parse(message))
    except ValueError:
        return None
    for literal, field, spec, conversion in parsed:
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        cut = min((p for p in (field.find("."), field.find("[")) if p >= 0), default=len(field))
        name, rest = field[:cut], field[cut:]
        if name not in index or (spec and "{" in spec):
            return None
        parts.append(
            "{"
            + str(index[name])
            + rest
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
    return "".join(parts)


def _words(value: Any, at: np.ndarray) -> list[str]:
    """What ``Because.explain`` puts in the message for ``value`` at each household of ``at``."""
    if isinstance(value, ParamColumn):
        shown = [u.display_value for u in value.uses] + ["(not set)"]  # index -1: not set
        return [shown[j] for j in value.use_index[at].tolist()]
    if isinstance(value, Yuan):
        fen = value.fen[at]
        if fen.dtype.kind not in "biu":
            return [format_yuan(int(f)) for f in fen.tolist()]
        amounts, inverse = np.unique(fen.astype(np.int64), return_inverse=True)
        spelled = [format_yuan(a) for a in amounts.tolist()]
        return [spelled[j] for j in inverse.tolist()]
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return [_plain(value[i]) for i in at.tolist()]
        return [_plain(v) for v in value[at].tolist()]  # tolist: each element's .item(), as _plain uses
    return [_plain(value)] * len(at)


def _parameters(
    columns: list[ParamColumn], at: np.ndarray
) -> tuple[list[tuple[ParameterUse, ...]], list[str]]:
    """Per household of ``at``: the parameter uses of ``columns`` in order (none where one is not set)
    and their JSON list items, worked out once for each distinct combination of uses."""
    m = len(at)
    if not columns:
        return [()] * m, [""] * m
    index = np.stack([np.asarray(c.use_index)[at] for c in columns], axis=1)
    combinations, inverse = np.unique(index, axis=0, return_inverse=True)
    uses: list[tuple[ParameterUse, ...]] = []
    texts: list[str] = []
    for combination in combinations.tolist():
        used = tuple(c.uses[j] for c, j in zip(columns, combination, strict=True) if j >= 0)
        uses.append(used)
        texts.append(",".join(_parameter_json(u) for u in used))
    positions = inverse.ravel().tolist()
    return [uses[j] for j in positions], [texts[j] for j in positions]


_PARAMETER_JSON: dict[int, tuple[ParameterUse, str]] = {}


def _parameter_json(use: ParameterUse) -> str:
    """``json.dumps`` of the stored form of a parameter use, kept by identity (with the use, so that
    its id is not reused): the locality registry hands out the same few uses batch after batch."""
    known = _PARAMETER_JSON.get(id(use))
    if known is not None and known[0] is use:
        return known[1]
    if len(_PARAMETER_JSON) > 10_000:
        _PARAMETER_JSON.clear()
    text = json.dumps(stored_parameter(use), **COMPACT)
    _PARAMETER_JSON[id(use)] = (use, text)
    return text


def stored_parameter(use: ParameterUse) -> list[Any]:
    """A parameter use as stored in evidence (its source is looked up when read: :func:`parameter_use`)."""
    return [
        use.name,
        use.locality_code,
        use.display_value,
        use.effective_from.isoformat(),
        use.unit,
        use.illustrative,
    ]


def parameter_use(stored: list[Any] | dict[str, Any], localities: LocalityRegistry) -> ParameterUse:
    """A stored parameter use back as a :class:`~safetynet.model.ParameterUse`, its ``source`` from the
    locality pack that sets that dated value (evidence stored with its source keeps its own)."""
    if isinstance(stored, list):
        name, locality_code, value, effective, unit, illustrative = stored
        source = None
    else:
        name, locality_code, value = stored["name"], stored["locality_code"], stored["value"]
        effective, unit, illustrative = stored["effective_from"], stored.get("unit", ""), stored["illustrative"]
        source = stored.get("source")
    effective_from = date.fromisoformat(str(effective))
    if source is None:
        source = localities.source_of(name, locality_code, effective_from)
    return ParameterUse(
        name=name,
        locality_code=locality_code,
        unit=unit,
        value=Decimal(str(value)),
        effective_from=effective_from,
        source=source if source is not None else SOURCE_UNINSTALLED,
        illustrative=bool(illustrative),
    )


def stored_reason(reason: Reason) -> list[Any]:
    """A :class:`~safetynet.model.Reason` in the stored form (see the module)."""
    return [reason.code, reason.message, [stored_parameter(u) for u in reason.parameters]]


def code_and_message(data: list[Any] | dict[str, Any]) -> tuple[str, str]:
    """A stored evidence entry's code and message (either form)."""
    return (data[0], data[1]) if isinstance(data, list) else (data["code"], data["message"])


def reason_from_json(data: list[Any] | dict[str, Any], localities: LocalityRegistry) -> Reason:
    """A stored evidence entry (either form, see the module) back as a :class:`~safetynet.model.Reason`."""
    if isinstance(data, list):
        code, message, parameters = data
    else:
        code, message, parameters = data["code"], data["message"], data.get("parameters", [])
    return Reason(
        code=code, message=message, parameters=tuple(parameter_use(p, localities) for p in parameters)
    )
