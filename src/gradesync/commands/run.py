"""``gradesync run``: the daemon. Pull cycles forever, deliver events, stop cleanly on a signal.

SIGTERM and SIGINT stop it (no new cycle starts, the running ones and delivery get
``sync.drain_timeout``); SIGHUP reloads the configuration. Everything else, systemd's notify
protocol, the health endpoint, pruning and reload included, is :class:`gradesync.service.Service`.
"""

from __future__ import annotations

import argparse

from gradesync.commands.common import Signals, add_config_argument, load
from gradesync.daemon import open_service
from gradesync.notify import Notifier

HANDLES = frozenset({"stop", "reload"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


async def main(args: argparse.Namespace, signals: Signals) -> int:
    settings = load(args)
    settings.require_sinks()
    notifier = Notifier.from_environ()
    try:
        async with open_service(settings, config=args.config, notifier=notifier) as service:
            await service.run(signals.stop, signals.reload)
    finally:
        notifier.close()
    return 0
