"""The fast encoders give the standard library's text, byte for byte: digests depend on it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from gradesync.jsontext import canonical, compact

VALUES: list[Any] = [
    {"score": 14.89, "displayGrade": {"scaleType": "Score", "score": 14.89, "possible": 20.0}},
    {"text": "Très bien ✓", "feedback": 'a "quoted"\nline\ttab \\ \u2028', "exempt": True},
    {"b": 1, "a": [1, 2.5, None, True, False, "x"], "c": {"z": {}, "y": []}},
    {"big": 1e16, "small": 1e-7, "neg": -0.0, "int": 10**20, "nan": math.nan, "inf": -math.inf},
    [],
    {},
    "a bare string, \u00e9",
    12.5,
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_compact_is_json_dumps_with_compact_separators_and_unicode_kept(value: Any) -> None:
    assert compact(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("value", VALUES)
def test_canonical_is_json_dumps_with_sorted_keys_in_ascii(value: Any) -> None:
    assert canonical(value) == json.dumps(value, separators=(",", ":"), sort_keys=True)


def test_a_value_json_cannot_encode_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact({"when": object()})
