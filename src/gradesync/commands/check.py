"""``gradesync check``: validate the configuration and the credentials (one token request)."""

from __future__ import annotations

import argparse

from gradesync.commands.common import add_config_argument, load
from gradesync.daemon import learn_settings
from gradesync.learn import LearnClient


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


async def main(args: argparse.Namespace) -> int:
    settings = load(args)
    print(f"configuration: ok ({settings.source})")
    async with LearnClient(learn_settings(settings)) as client:
        await client.authenticate()  # AuthenticationError -> exit 1 in cli
    print(f"credentials: ok (a token was issued to {settings.learn.client_id!r})")
    return 0
