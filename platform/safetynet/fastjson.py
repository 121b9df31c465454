"""JSON by orjson where it can, with the standard library's values and errors.

Reading a department feed or households.jsonl spends much of its time decoding JSON lines; orjson does it
several times faster. Where orjson refuses a text (invalid JSON, but also what the standard library
accepts and orjson does not: ``NaN``, lone surrogates), or might have read it otherwise, the standard
library decodes it, so the values and the error messages are exactly ``json.loads``'s. orjson reads an
integer beyond 64 bits as a float, so a text whose values hold a float and a run of 20 digits or more
is decoded again by the standard library (a look for the digits in every text would cost more than
the decoding).

:func:`dumps` writes compact UTF-8 JSON text, by the standard library where orjson refuses a value
(e.g. an integer beyond 64 bits, a key that is not text).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_NUMBER = re.compile(r"\d{20}")


def loads(text: str) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    if _holds_float(value) and _LONG_NUMBER.search(text):
        return json.loads(text)
    return value


def _holds_float(value: Any) -> bool:
    kind = value.__class__
    if kind is float:
        return True
    if kind is dict:
        return any(map(_holds_float, value.values()))
    if kind is list:
        return any(map(_holds_float, value))
    return False


def dumps(value: Any) -> str:
    """Compact JSON text (no spaces, UTF-8 characters as they are)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
