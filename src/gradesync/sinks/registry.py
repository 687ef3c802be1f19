"""The sink registry: for each sink type, the model of its settings and how a sink is built.

Adding a sink type is a settings model in :mod:`gradesync.config.sinks` (one more member of
``SinkConfig``), one entry in :data:`SINKS` here, and its keys documented in
``config.example.toml``; ``tests/sinks/test_registry.py`` holds the config and this table
together. The dependency points inward: the sinks read the config models, the config package
never imports the sinks. An SIS sink is built by its ``protocol`` (:data:`SIS_PROTOCOLS`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gradesync.clock import Clock
from gradesync.config.sinks import FileSinkConfig, SinkConfig, SisSinkConfig, WebhookSinkConfig
from gradesync.config.values import Section
from gradesync.errors import ConfigError
from gradesync.sinks.base import Sink
from gradesync.sinks.checks import SinkCheck, check_file, check_sis, check_webhook
from gradesync.sinks.file import FileSink
from gradesync.sinks.sis import GradesJourneySink, UpsertSink
from gradesync.sinks.webhook import WebhookSink

SettingsT = TypeVar("SettingsT", bound=Section)


@dataclass(frozen=True)
class SinkKind(Generic[SettingsT]):
    """One sink type: the model of its ``[[sinks]]`` table, how a sink is built from one, and
    how ``gradesync check`` proves it can be reached without sending a grade."""

    settings: type[SettingsT]
    build: Callable[[SettingsT, Clock | None], Sink]
    check: Callable[[SettingsT, Clock | None], Awaitable[SinkCheck]]


def _file(cfg: FileSinkConfig, clock: Clock | None) -> Sink:
    return FileSink(cfg.path, name=cfg.name, fsync=cfg.fsync)


def _webhook(cfg: WebhookSinkConfig, clock: Clock | None) -> Sink:
    return WebhookSink(cfg, clock=clock)


def _upsert(cfg: SisSinkConfig, clock: Clock | None) -> Sink:
    return UpsertSink(cfg, clock=clock)


def _gradesjourney(cfg: SisSinkConfig, clock: Clock | None) -> Sink:
    return GradesJourneySink(cfg, clock=clock)


SIS_PROTOCOLS: Mapping[str, Callable[[SisSinkConfig, Clock | None], Sink]] = {
    "upsert": _upsert,
    "gradesjourney": _gradesjourney,
}
"""The SIS sink of each ``protocol``."""


def _sis(cfg: SisSinkConfig, clock: Clock | None) -> Sink:
    build = SIS_PROTOCOLS.get(cfg.protocol)
    if build is None:
        known = ", ".join(SIS_PROTOCOLS)
        raise ConfigError(
            f"sink {cfg.name!r}: unknown SIS protocol {cfg.protocol!r} (expected {known})"
        )
    return build(cfg, clock)


SINKS: Mapping[str, SinkKind[Any]] = {
    "file": SinkKind(FileSinkConfig, _file, check_file),
    "webhook": SinkKind(WebhookSinkConfig, _webhook, check_webhook),
    "sis": SinkKind(SisSinkConfig, _sis, check_sis),
}
"""Every sink type, by the ``type`` of its table."""


def build_sink(cfg: SinkConfig, clock: Clock | None = None) -> Sink:
    """The sink a ``[[sinks]]`` table describes; ConfigError, naming the known types, for a
    type the registry does not know."""
    return _kind(cfg).build(cfg, clock)


async def check_sink(cfg: SinkConfig, clock: Clock | None = None) -> SinkCheck:
    """Whether the sink a ``[[sinks]]`` table describes can be reached (no grade is sent)."""
    return await _kind(cfg).check(cfg, clock)


def _kind(cfg: SinkConfig) -> SinkKind[Any]:
    kind = SINKS.get(cfg.type)
    if kind is None:
        known = ", ".join(SINKS)
        raise ConfigError(f"sink {cfg.name!r}: unknown sink type {cfg.type!r} (expected {known})")
    if not isinstance(cfg, kind.settings):
        raise ConfigError(
            f"sink {cfg.name!r}: a {cfg.type!r} sink is built from {kind.settings.__name__},"
            f" not {type(cfg).__name__}"
        )
    return kind
