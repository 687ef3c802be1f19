"""What several commands share: the --config option, loading settings and logs, signals."""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass, field

from gradesync import logs
from gradesync.config import Settings, load_settings


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("GRADESYNC_CONFIG"),
        help="the TOML configuration file (default: $GRADESYNC_CONFIG)",
    )


def load(args: argparse.Namespace) -> Settings:
    """Load the settings named by ``--config`` and configure logging from them."""
    settings = load_settings(args.config)
    logs.configure_from(settings.logging)
    return settings


@dataclass(frozen=True)
class Signals:
    """What the signals a command declares (its module's ``HANDLES``) turn into: SIGTERM and
    SIGINT set ``stop`` (``"stop"``), SIGHUP sets ``reload`` (``"reload"``)."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reload: asyncio.Event = field(default_factory=asyncio.Event)
