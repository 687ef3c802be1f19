"""The settings tree: one model per TOML table, with the defaults of ``config.example.toml``.

Each component maps its own section onto its own settings object; names here are the keys
operators write, so they are kept as docs/contract.md section 2 gives them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gradesync.config.sinks import SinkConfig
from gradesync.config.values import (
    Duration,
    KeyedValueError,
    PositiveDuration,
    Secret,
    Section,
    SiteUrl,
    UtcDatetime,
    format_duration,
    parse_listen,
)
from gradesync.errors import ConfigError

ENV_PREFIX = "GRADESYNC_"
NESTED_DELIMITER = "__"
REDACTED = "***"

CourseAvailability = Literal["Yes", "No", "Disabled", "Term"]
ColumnAvailability = Literal["Yes", "No"]


class LearnConfig(Section):
    """How to reach Learn and how hard to press on it."""

    base_url: SiteUrl
    client_id: str = Field(min_length=1)
    client_secret: Secret
    verify_tls: bool = True
    connect_timeout: PositiveDuration = timedelta(seconds=10)
    read_timeout: PositiveDuration = timedelta(seconds=60)
    request_timeout: PositiveDuration = timedelta(minutes=2)
    max_response_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    concurrency: int = Field(default=8, ge=1)
    requests_per_second: float = Field(default=10.0, gt=0)
    daily_request_budget: int = Field(default=10000, ge=1)
    max_retries: int = Field(default=5, ge=0)
    retry_max_wait: Duration = timedelta(seconds=60)
    token_refresh_margin: Duration = timedelta(seconds=60)


class StateConfig(Section):
    """Where the SQLite state lives (relative paths are relative to the working directory)."""

    path: Path = Path("gradesync.db")
    # Events every sink has delivered are kept this long (for `replay`), then pruned.
    outbox_retention: PositiveDuration = timedelta(days=30)


class SelectionConfig(Section):
    """Which courses, columns and memberships are pulled."""

    availability: tuple[CourseAvailability, ...] = ("Yes",)
    created_since: UtcDatetime | None = None
    data_source: str | None = Field(default=None, min_length=1)
    term: str | None = Field(default=None, min_length=1)
    courses: tuple[str, ...] = ()
    exclude_courses: tuple[str, ...] = ()
    include_disabled_memberships: bool = False
    include_calculated: bool = True
    column_availability: tuple[ColumnAvailability, ...] = ()
    due_after: Duration | None = None
    due_before: Duration | None = None


class SyncConfig(Section):
    """How often each course is read, and how."""

    interval: PositiveDuration = timedelta(minutes=15)
    max_interval: PositiveDuration = timedelta(days=1)
    scheduler: Literal["adaptive", "uniform"] = "adaptive"
    jitter: Duration = timedelta(seconds=30)
    concurrency: int = Field(default=4, ge=1)
    reconciliation_interval: PositiveDuration = timedelta(days=1)
    membership_refresh: PositiveDuration = timedelta(hours=6)
    strategy: Literal["auto", "changelog", "changeindex", "lastchanged"] = "auto"
    sweep_interval: PositiveDuration = timedelta(days=1)
    emit_baseline: bool = True
    drain_timeout: Duration = timedelta(seconds=30)
    stuck_after: PositiveDuration = timedelta(minutes=30)

    @model_validator(mode="after")
    def _intervals_in_order(self) -> SyncConfig:
        if self.jitter >= self.interval:
            raise KeyedValueError(
                ("jitter",), f"must be shorter than interval ({format_duration(self.interval)})"
            )
        if self.max_interval < self.interval:
            raise KeyedValueError(
                ("max_interval",),
                f"must be at least interval ({format_duration(self.interval)})",
            )
        return self


class DeliveryConfig(Section):
    """How events leave the outbox."""

    once_wait: Duration = timedelta(seconds=60)
    retry_max_wait: PositiveDuration = timedelta(seconds=60)
    batch_size: int = Field(default=500, ge=1)


class LoggingConfig(Section):
    """Log level and rendering (``auto``: JSON unless on a terminal)."""

    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class HealthConfig(Section):
    """The health endpoint's ``host:port``; empty turns it off."""

    listen: str = ""

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_listen(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` to listen on, or None when the endpoint is off."""
        return parse_listen(self.listen)


class Settings(BaseSettings):
    """The whole configuration. Build it with ``load_settings``; ``Settings(...)`` reads nothing.

    Constructed directly it validates only what it is given (handy in tests); the layering of
    TOML, environment and secrets files is ``load_settings``'s job.
    """

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        case_sensitive=False,
    )

    learn: LearnConfig
    state: StateConfig = StateConfig()
    selection: SelectionConfig = SelectionConfig()
    sync: SyncConfig = SyncConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    logging: LoggingConfig = LoggingConfig()
    health: HealthConfig = HealthConfig()
    sinks: tuple[SinkConfig, ...] = ()

    _source: str = PrivateAttr(default="configuration")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @field_validator("sinks")
    @classmethod
    def _unique_names(cls, sinks: tuple[SinkConfig, ...]) -> tuple[SinkConfig, ...]:
        seen: dict[str, int] = {}
        for index, sink in enumerate(sinks):
            first = seen.setdefault(sink.name.lower(), index)
            if first != index:
                raise KeyedValueError(
                    (index, "name"),
                    f"duplicate sink name {sink.name!r} (sinks[{first}] has it too); "
                    "give each sink its own name",
                )
        return sinks

    @property
    def source(self) -> str:
        """Where the settings came from: the config file, or ``environment``."""
        return self._source

    def require_sinks(self) -> None:
        """Raise ``ConfigError`` unless a sink is configured (``run`` and ``once`` need one)."""
        if not self.sinks:
            raise ConfigError(
                f"{self._source}: sinks: no [[sinks]] configured; run and once need at least one"
            )

    def redacted(self) -> dict[str, Any]:
        """Plain data for printing: durations as ``"1h30m"``, every secret as ``"***"``."""
        data: dict[str, Any] = _redact(self)
        return data


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, Section | Settings):
        return {name: _redact(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, tuple | list):
        return [_redact(item) for item in value]
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
