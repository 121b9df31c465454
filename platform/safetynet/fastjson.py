"""JSON text → Python values, by orjson where it can, with the standard library's values and errors.

Reading a department feed or households.jsonl spends much of its time decoding JSON lines; orjson does it
several times faster. Where orjson refuses a text (invalid JSON, but also what the standard library
accepts and orjson does not: ``NaN``, lone surrogates), or might read it otherwise (a run of 20 digits
or more: orjson reads integers beyond 64 bits as floats), the standard library decodes it, so the
values and the error messages are exactly ``json.loads``'s.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_NUMBER = re.compile(r"\d{20}")


def loads(text: str) -> Any:
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
