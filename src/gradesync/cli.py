"""The command line: the only place with asyncio.run, signal handlers, exit codes and log set-up.

Each command lives in a module with ``add_arguments(parser)`` and ``run(args) -> int``; this
module only routes to them, so the heavy imports happen for the command that runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from gradesync import __version__

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("gradesync.simulator.command", "serve the built-in Learn REST API simulator"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradesync", description="Keep other systems up to date with the grades in Learn."
    )
    parser.add_argument("--version", action="version", version=f"gradesync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    code: int = module.run(args)
    return code
