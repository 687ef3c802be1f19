"""Value types of the configuration and the base class of its tables.

Durations, URLs, listen addresses and grade schemas are parsed here.
Each parser raises ``ValueError`` with a message that says which forms are accepted and never
repeats a value that could hold a credential (URLs are not echoed).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SecretStr,
)

DURATION_FORMS = (
    "a number of seconds (90), a sum of units d, h, m, s ('90s', '5m', '1h30m', '2d'), "
    "or ISO 8601 ('PT5M', 'P1DT12H')"
)

_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = r"\d+(?:\.\d+)?"
_UNITS_RE = re.compile(rf"(?:\s*{_NUMBER}\s*[dhms])+\s*", re.IGNORECASE)
_UNIT_PART_RE = re.compile(rf"({_NUMBER})\s*([dhms])", re.IGNORECASE)
# Weeks and days only in the date part: months and years have no fixed length.
_ISO_RE = re.compile(
    rf"P(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?",
    re.IGNORECASE,
)
_ISO_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


class Section(BaseModel):
    """A table of the configuration: unknown keys refused, values frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyedValueError(ValueError):
    """A model-level check that blames one key by name: ``key`` is its path inside the model."""

    def __init__(self, key: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.key = key


def parse_duration(value: Any) -> timedelta:
    """A non-negative ``timedelta`` from any accepted form; ``ValueError`` naming the forms."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _duration_text_seconds(value.strip())
    else:
        raise ValueError(f"a duration must be a string or a number: {DURATION_FORMS}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def _duration_text_seconds(text: str) -> float:
    if re.fullmatch(_NUMBER, text):
        return float(text)
    if text and _UNITS_RE.fullmatch(text):
        return sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _UNIT_PART_RE.findall(text))
    iso = _ISO_RE.fullmatch(text)
    if iso and any(iso.groupdict().values()) and not text.upper().endswith("T"):
        return sum(float(v) * _ISO_SECONDS[k] for k, v in iso.groupdict().items() if v)
    raise ValueError(f"{text!r} is not a duration: use {DURATION_FORMS}")


def format_duration(value: timedelta) -> str:
    """The shortest unit form of ``value`` (``"1h30m"``), as ``parse_duration`` reads it back."""
    rest = value.total_seconds()
    parts: list[str] = []
    for unit, size in _UNIT_SECONDS.items():
        if unit == "s":
            count, rest = round(rest, 6), 0.0
        else:
            count, rest = divmod(rest, size)
        if count:
            parts.append(f"{int(count) if count == int(count) else count}{unit}")
    return "".join(parts) or "0s"


def _positive(value: timedelta) -> timedelta:
    if not value:
        raise ValueError("must be longer than zero")
    return value


_as_text = PlainSerializer(format_duration, return_type=str, when_used="json")

Duration = Annotated[timedelta, BeforeValidator(parse_duration), _as_text]
"""A ``timedelta`` written as ``"90s"``, ``"1h30m"``, ``"PT5M"`` or a number of seconds."""

PositiveDuration = Annotated[
    timedelta, BeforeValidator(parse_duration), AfterValidator(_positive), _as_text
]
"""A :data:`Duration` that must be longer than zero (intervals, timeouts)."""


def _not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


Secret = Annotated[SecretStr, AfterValidator(_not_blank)]
"""A credential: never printed (``SecretStr``) and never empty."""


def check_http_url(value: str, *, path_allowed: bool = True) -> str:
    """An http(s) URL with a host, no credentials, query or fragment; trailing ``/`` removed."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host, as in https://host.example.edu")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; they belong in their own keys")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or a fragment")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    path = parts.path.rstrip("/")
    if path and not path_allowed:
        raise ValueError("must be scheme, host and port only (the client adds /learn/api/...)")
    return f"{parts.scheme.lower()}://{parts.netloc}{path}"


WebUrl = Annotated[str, AfterValidator(check_http_url)]
"""An http(s) URL; a path is allowed."""

SiteUrl = Annotated[str, AfterValidator(lambda v: check_http_url(v, path_allowed=False))]
"""An http(s) scheme, host and optional port; no path beyond ``/``."""


def parse_listen(value: str) -> tuple[str, int] | None:
    """``"host:port"`` (``"[::1]:9108"`` for IPv6) as a pair; ``""`` means off."""
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port, as in 127.0.0.1:9108 or [::1]:9108, or empty (off)")
    return host, int(port)


def parse_grade_schema(value: str) -> tuple[tuple[str, float], ...]:
    """``"A=90:B=80:F=0"`` as ``(("A", 90.0), ...)``: symbols with descending percent bounds."""
    pairs: list[tuple[str, float]] = []
    for part in value.split(":"):
        symbol, sep, bound = part.partition("=")
        symbol = symbol.strip()
        if not sep or not symbol or not re.fullmatch(_NUMBER, bound.strip()):
            raise ValueError("must be symbol=percent pairs joined by ':', as in A=90:B=80:F=0")
        pairs.append((symbol, float(bound)))
    bounds = [bound for _, bound in pairs]
    if any(b > 100 for b in bounds) or bounds != sorted(set(bounds), reverse=True):
        raise ValueError("percent bounds must be at most 100 and strictly descending")
    if len({s for s, _ in pairs}) != len(pairs):
        raise ValueError("each symbol may appear only once")
    if len(value) > 2000:
        raise ValueError("is longer than the 2000 characters the SIS format allows")
    return tuple(pairs)


def _aware_datetime(value: Any) -> Any:
    """A TOML date, or a datetime without a zone, taken as UTC (Learn's dates are UTC)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, BeforeValidator(_aware_datetime), AfterValidator(_utc)]
"""A timezone-aware datetime; dates and naive times are UTC."""
