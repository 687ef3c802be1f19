"""What can go wrong between a client and Learn, as parameters, and a log of what was asked.

``Faults`` is mutable while the simulator runs (from Python or ``POST /__simulator__/faults``);
the decisions draw from one seeded RNG so a test run repeats. ``Stats`` counts responses per
endpoint template and status for tests and benchmarks.

Bad data: ``bad_rows`` serves chosen grade rows, and ``bad_columns`` chosen columns, with a value
no faithful copy can hold (:data:`BadValue`); over HTTP each is a list of objects,
``[{"courseId", "columnId", "userId", "kind"}]``. A hostile server: ``drip`` sends every API
answer one byte at a time, ``oversize`` pads every 200 answer with blank space.

The gradebook log (docs/learn-api.md section 4.9): ``forbidden_logs`` makes its endpoints answer
403, as for an integration user without the entitlements they need; ``learn_version`` is the
version ``v1/system/version`` reports, and below 3900.71 (an older Learn) the log paths answer
404. The knobs of the log's content (edits that leave no entry, a cleared history) belong to
the world.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

# The X-Rate-Limit-Limit reported when no daily quota is set.
UNLIMITED = 2_147_483_647

# The status recorded in Stats for a connection dropped without a response.
DROPPED = 0

# The version the simulator reports by default: one that serves the gradebook log.
LEARN_VERSION = "3900.123.0"
# The first version with the gradebook log endpoints.
LOGS_SINCE = (3900, 71, 0)


BadValue = Literal[
    "nan",  # score (a column's score.possible) NaN
    "inf",  # ... Infinity
    "overflow",  # ... a number beyond a double (1e400 reads as infinity)
    "string",  # ... a string holding a number
    "display_nan",  # displayGrade.score NaN
    "negative_change_index",  # changeIndex -1
    "huge_change_index",  # changeIndex 2**63, beyond a signed 64-bit integer
    "string_change_index",  # changeIndex as a string
    "empty_id",  # userId (a column's id) ""
    "control_id",  # ... holding a NUL
    "dot_id",  # ... ".."
    "surrogate",  # text (a column's name) a lone surrogate, which no UTF-8 text can hold
]

_NUMBER_OF: dict[str, Callable[[float], Any]] = {
    "nan": lambda _: math.nan,
    "inf": lambda _: math.inf,
    "overflow": lambda _: 10**400,
    "string": lambda value: str(value),
}
_ID_OF: dict[str, Callable[[str], str]] = {
    "empty_id": lambda _: "",
    "control_id": lambda value: value + "\x00",
    "dot_id": lambda _: "..",
}
COLUMN_BAD_VALUES = frozenset({*_NUMBER_OF, *_ID_OF, "surrogate"})


def spoil_row(body: bytes, kind: str) -> bytes:
    """A grade row's JSON with the value ``kind`` names made bad."""
    row = json.loads(body)
    if kind in _NUMBER_OF:
        row["score"] = _NUMBER_OF[kind](row.get("score", 1.0))
    elif kind == "display_nan":
        row["displayGrade"] = {**row.get("displayGrade", {}), "score": math.nan}
    elif kind.endswith("change_index"):
        index = row.get("changeIndex", 0)
        row["changeIndex"] = {"negative": -1, "huge": 2**63, "string": str(index)}[
            kind.removesuffix("_change_index")
        ]
    elif kind in _ID_OF:
        row["userId"] = _ID_OF[kind](row["userId"])
    else:
        row["text"] = "\ud800"
    return json.dumps(row).encode()


def spoil_column(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """A column's body with the value ``kind`` names made bad."""
    if kind in _NUMBER_OF:
        possible = body.get("score", {}).get("possible", 1.0)
        return {**body, "score": {"possible": _NUMBER_OF[kind](possible)}}
    if kind in _ID_OF:
        return {**body, "id": _ID_OF[kind](body["id"])}
    return {**body, "name": "\ud800"}


def _keyed(value: Any, names: tuple[str, ...]) -> Any:
    """``[{courseId, columnId, (userId,) kind}]`` (JSON) as ``{(ids...): kind}``."""
    if not isinstance(value, list):
        return value
    keyed = {}
    for entry in value:
        if not isinstance(entry, dict):
            raise ValueError(f"each entry must be an object with {', '.join(names)} and kind")
        keyed[tuple(str(entry[name]) for name in names)] = entry["kind"]
    return keyed


class Faults(BaseModel):
    """Fault parameters; rates are probabilities per API request, times are seconds."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    rate_429: float = Field(0.0, ge=0, le=1)
    rate_5xx: float = Field(0.0, ge=0, le=1)
    latency: float = Field(0.0, ge=0)  # added to every request
    slow_rate: float = Field(0.0, ge=0, le=1)  # the share of requests that are slow ...
    slow_latency: float = Field(0.0, ge=0)  # ... and by how much more
    forbidden_columns: frozenset[str] = frozenset()  # primary ids of columns that answer 403
    malformed_rate: float = Field(0.0, ge=0, le=1)  # 200 with a truncated JSON body
    drop_rate: float = Field(0.0, ge=0, le=1)  # the connection closes without a response
    token_lifetime: int = Field(3600, ge=1)
    daily_quota: int | None = Field(None, ge=0)  # None: unlimited; Learn's default is 10,000
    retry_after: int = Field(2, ge=0)  # Retry-After of an injected (not quota) 429
    # (course id, column id, user id) -> what is wrong with that grade row
    bad_rows: dict[tuple[str, str, str], BadValue] = Field(default_factory=dict)
    # (course id, column id) -> what is wrong with that column
    bad_columns: dict[tuple[str, str], BadValue] = Field(default_factory=dict)
    drip: float = Field(0.0, ge=0)  # seconds between two bytes of an API answer; 0: all at once
    oversize: int = Field(0, ge=0)  # bytes of blank space added to the end of each 200 answer
    forbidden_logs: bool = False  # the gradebook log endpoints answer 403
    learn_version: str = LEARN_VERSION  # major.minor.patch; below 3900.71 the log is not served
    seed: int = 0

    @property
    def version(self) -> tuple[int, int, int]:
        major, minor, patch = (int(part) for part in self.learn_version.split("."))
        return major, minor, patch

    @property
    def serves_logs(self) -> bool:
        return self.version >= LOGS_SINCE

    @field_validator("learn_version")
    @classmethod
    def _version_form(cls, value: str) -> str:
        if not re.fullmatch(r"\d{1,6}\.\d{1,6}\.\d{1,6}", value):
            raise ValueError(f"learn_version must read major.minor.patch, as 3900.123.0: {value!r}")
        return value

    @field_validator("bad_rows", mode="before")
    @classmethod
    def _rows_from_json(cls, value: Any) -> Any:
        return _keyed(value, ("courseId", "columnId", "userId"))

    @field_validator("bad_columns", mode="before")
    @classmethod
    def _columns_from_json(cls, value: Any) -> Any:
        return _keyed(value, ("courseId", "columnId"))

    @field_validator("bad_columns")
    @classmethod
    def _column_kinds(cls, value: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
        wrong = sorted({kind for kind in value.values() if kind not in COLUMN_BAD_VALUES})
        if wrong:
            raise ValueError(f"not a fault a column can have: {', '.join(wrong)}")
        return value

    @field_serializer("bad_rows", "bad_columns", when_used="json")
    def _as_list(self, value: dict[tuple[str, ...], str]) -> list[dict[str, str]]:
        names = ("courseId", "columnId", "userId")
        return [dict(zip(names, key, strict=False)) | {"kind": kind} for key, kind in value.items()]


class Dice:
    """The seeded RNG behind every fault decision."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def pick(self, options: tuple[int, ...]) -> int:
        return self._rng.choice(options)


class Stats:
    """Responses counted by endpoint template (``"v3/courses"``, ``"v1/oauth2/token"``: the
    path under ``/learn/api/public/``) and status; a dropped connection counts as status 0."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        self._counts[endpoint, status] += 1

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        return sum(
            n
            for (e, s), n in self._counts.items()
            if (endpoint is None or e == endpoint) and (status is None or s == status)
        )

    @property
    def total(self) -> int:
        return self.count()

    def by_endpoint(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for (endpoint, status), n in sorted(self._counts.items()):
            out.setdefault(endpoint, {})[status] = n
        return out

    def reset(self) -> None:
        self._counts.clear()
