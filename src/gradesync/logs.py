"""structlog configuration: console on a terminal, JSON lines otherwise. Configured once."""

from __future__ import annotations

import logging
import sys
from typing import Any, Protocol

import structlog

_SECRET_KEYS = ("secret", "token", "password", "authorization")


def _redact(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: a value under a key that names a secret is never written."""
    for key in list(event_dict):
        if any(s in key.lower() for s in _SECRET_KEYS) and not key.endswith("_count"):
            event_dict[key] = "***"
    return event_dict


def configure(level: str = "info", *, json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog and the standard library logging behind it."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if json:
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=stream)


class LoggingChoice(Protocol):
    """The ``[logging]`` table: a level and ``auto``, ``json`` or ``console``."""

    @property
    def level(self) -> str: ...

    @property
    def format(self) -> str: ...


def configure_from(choice: LoggingChoice) -> None:
    """Configure from the ``[logging]`` settings (``auto``: JSON unless on a terminal)."""
    configure(choice.level, json=None if choice.format == "auto" else choice.format == "json")


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger bound to a component name."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(component=name)
    return logger
