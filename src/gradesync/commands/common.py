"""What several commands share: the --config option, loading settings, setting up logs."""

from __future__ import annotations

import argparse
import os

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
    fmt = settings.logging.format
    logs.configure(settings.logging.level, json=None if fmt == "auto" else fmt == "json")
    return settings
