"""Compact JSON text from the standard library, without its per-call set-up.

``json.JSONEncoder.encode`` builds a new C encoder on every call. For the small objects that
gradesync encodes once or more per grade (a grade's content for its digest and its snapshot,
the grade inside an event) that set-up costs more than the encoding: about 3 µs of a 4 µs call.
The encoders here build the C encoder once, with exactly the arguments ``encode`` would pass,
so their text is the text ``encode`` gives (``tests/test_jsontext.py`` holds them together).
Where the C encoder is missing (another Python), they are plain ``encode``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _stdlib
from typing import Any


def _compiled(*, sort_keys: bool, ensure_ascii: bool) -> Callable[[Any], str]:
    reference = json.JSONEncoder(
        sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=ensure_ascii, check_circular=False
    )
    make = getattr(_stdlib, "c_make_encoder", None)  # not in the typeshed stubs
    if make is None:  # pragma: no cover - CPython always has it
        return reference.encode
    strings = _stdlib.encode_basestring_ascii if ensure_ascii else _stdlib.encode_basestring
    # The arguments of JSONEncoder.iterencode's one-shot call, in its order: markers (None:
    # no circular check, as check_circular=False), default, string encoder, indent, the
    # separators, sort_keys, skipkeys, allow_nan.
    chunks = make(None, reference.default, strings, None, ":", ",", sort_keys, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):  # encode() special-cases a bare string the same way
            return str(strings(value))
        return "".join(chunks(value, 0))

    return encode


compact = _compiled(sort_keys=False, ensure_ascii=False)
"""Compact JSON, keys in insertion order, non-ASCII kept: the outbox, the snapshot, events."""

canonical = _compiled(sort_keys=True, ensure_ascii=True)
"""Compact JSON with sorted keys and only ASCII: the text a grade's digest is taken of."""
