"""Typed, layered configuration (docs/contract.md section 2).

Layers, later ones winning: the TOML file; environment variables ``GRADESYNC_<SECTION>__<KEY>``
(lists and tables as JSON; sinks by number or name, ``GRADESYNC_SINKS__0__PATH``,
``GRADESYNC_SINKS__REGISTRAR__TOKEN``); then secrets files, one value per file, in
``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``) or else ``/run/secrets``, named
``learn__client_secret`` or ``learn_client_secret`` (sinks: ``sinks__<name or number>__<key>``).

Every table refuses unknown keys and is frozen; durations are ``timedelta``; secrets are
``SecretStr``; every problem is a ``ConfigError`` naming the source and the dotted key.
"""

from gradesync.config.loader import load_settings
from gradesync.config.settings import (
    DeliveryConfig,
    HealthConfig,
    LearnConfig,
    LoggingConfig,
    SelectionConfig,
    Settings,
    StateConfig,
    SyncConfig,
)
from gradesync.config.sinks import (
    FileSinkConfig,
    SinkConfig,
    SisOAuthConfig,
    SisSinkConfig,
    WebhookSinkConfig,
)
from gradesync.config.values import (
    Duration,
    PositiveDuration,
    format_duration,
    parse_duration,
    parse_grade_schema,
)

__all__ = [
    "DeliveryConfig",
    "Duration",
    "FileSinkConfig",
    "HealthConfig",
    "LearnConfig",
    "LoggingConfig",
    "PositiveDuration",
    "SelectionConfig",
    "Settings",
    "SinkConfig",
    "SisOAuthConfig",
    "SisSinkConfig",
    "StateConfig",
    "SyncConfig",
    "WebhookSinkConfig",
    "format_duration",
    "load_settings",
    "parse_duration",
    "parse_grade_schema",
]
