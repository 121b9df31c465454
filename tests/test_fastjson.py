"""safetynet.fastjson.loads reads every text as json.loads does: the same values, the same errors."""

import json

import pytest

from safetynet.fastjson import loads

TEXTS = [
    '{"recordId": "MI-1", "totalCost": "1200.50", "n": 3}',
    '{"amount": 12345678901234567890123}',  # beyond 64 bits: orjson alone would give a float
    '{"nested": [1.5, {"big": 123456789012345678901234567890}]}',
    '{"pi": 3.14159, "id": "123456789012345678901"}',  # 20+ digits inside text, a float elsewhere
    "[NaN, Infinity]",  # accepted by json, refused by orjson
    '{"x": 1e400}',
    '"\\ud800"',  # a lone surrogate
    "-0.0",
]


@pytest.mark.parametrize("text", TEXTS)
def test_values_are_json_loads_values(text):
    expected, got = json.loads(text), loads(text)
    assert repr(got) == repr(expected)
    assert type(got) is type(expected)


@pytest.mark.parametrize("text", ['{"a": 1', "{'a': 1}", "", '{"a": 1} x'])
def test_errors_are_json_loads_errors(text):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        loads(text)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)
