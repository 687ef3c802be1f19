"""``gradesync check``: validate the configuration, the Learn credentials (one token request)
and each sink (reachable, its TLS certificate, the SIS token), without sending a grade."""

from __future__ import annotations

import argparse

from gradesync.commands.common import add_config_argument, load
from gradesync.config.exposure import exposures
from gradesync.daemon import learn_settings
from gradesync.learn import LearnClient
from gradesync.sinks.registry import check_sink

EXIT_OK, EXIT_FAILED = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    print(f"configuration: ok ({settings.source})")
    for key, exposed in exposures(settings):
        print(f"warning: {key}: {exposed}")
    async with LearnClient(learn_settings(settings)) as client:
        await client.authenticate()  # AuthenticationError -> exit 1 in cli
    print(f"credentials: ok (a token was issued to {settings.learn.client_id!r})")
    code = EXIT_OK
    for sink in settings.sinks:
        result = await check_sink(sink)
        print(f"sink {sink.name}: {'ok' if result.ok else 'FAILED'} ({result.detail})")
        if not result.ok:
            code = EXIT_FAILED
    return code
