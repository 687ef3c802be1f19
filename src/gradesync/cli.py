"""The command line: the only place with asyncio.run, signal handlers, exit codes and log set-up.

Each command lives in a module with ``add_arguments(parser)`` and either ``async def
main(args) -> int`` (run here under asyncio) or ``run(args) -> int``; only the module of the
command that runs is imported. A command that handles signals says so in ``HANDLES`` and gets
them as events (``main(args, signals)``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from gradesync import __version__
from gradesync.commands.common import Signals
from gradesync.errors import (
    ConfigError,
    FatalLearnError,
    GradesyncError,
    StateError,
)

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("gradesync.commands.run", "the daemon: pull cycles forever, deliver events"),
    "once": ("gradesync.commands.once", "one cycle over every selected course, deliver, exit"),
    "demo": ("gradesync.commands.demo", "run the daemon against the built-in simulator"),
    "status": ("gradesync.commands.status", "what the state holds: courses, cursors, sinks"),
    "check": ("gradesync.commands.check", "validate the configuration and the credentials"),
    "simulate": ("gradesync.simulator.command", "serve the built-in Learn REST API simulator"),
    "deadletters": ("gradesync.commands.deadletters", "list dead letters, or deliver them again"),
    "replay": ("gradesync.commands.replay", "deliver a sink's events again from a point in time"),
    "sinks": ("gradesync.commands.sinks", "enable a sink that was disabled (410 Gone)"),
    "state": ("gradesync.commands.state", "state maintenance: an online backup"),
    "health": ("gradesync.commands.health", "ask the running daemon's health endpoint"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``selected`` command's module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="gradesync", description="Keep other systems up to date with the grades in Learn."
    )
    parser.add_argument("--version", action="version", version=f"gradesync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            importlib.import_module(module_name).add_arguments(command_parser)
        command_parser.set_defaults(_module=module_name)
    return parser


# What a command may declare in its module's ``HANDLES``, and the signals that set it.
SIGNALS: dict[str, tuple[signal.Signals, ...]] = {
    "stop": (signal.SIGTERM, signal.SIGINT),
    "reload": (signal.SIGHUP,),
}


async def _run_async(module: Any, args: argparse.Namespace) -> int:
    """Run an async command. A command whose module declares ``HANDLES`` (a set of names of
    :data:`SIGNALS`) is called with a :class:`Signals` whose events those signals set: it
    stops cleanly and exits 0 on SIGTERM, or reloads on SIGHUP. Other commands are called with
    ``args`` alone and keep the default handling (SIGINT interrupts, SIGTERM ends them)."""
    handles: frozenset[str] = frozenset(getattr(module, "HANDLES", ()))
    if not handles:
        code: int = await module.main(args)
        return code
    unknown = handles - SIGNALS.keys()
    if unknown:
        raise TypeError(f"{module.__name__}.HANDLES names unknown signals: {sorted(unknown)}")
    signals = Signals()
    loop = asyncio.get_running_loop()
    installed = [
        (signum, getattr(signals, name).set) for name in handles for signum in SIGNALS[name]
    ]
    for signum, handler in installed:
        loop.add_signal_handler(signum, handler)
    try:
        code = await module.main(args, signals)
    finally:
        for signum, _ in installed:
            loop.remove_signal_handler(signum)
    return code


def _tune_collector() -> None:
    """A cycle makes a few objects per grade and reference counting frees nearly all of them,
    yet the cyclic collector's default (a pass every 700 allocations) took about a tenth of a
    first read's CPU finding nothing. Passes are made rarer, and what start-up loaded (modules,
    settings) is frozen out of them. Memory is unchanged (bench/baseline.py shows it)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(selected).parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        if hasattr(module, "main"):
            _tune_collector()
            code: int = asyncio.run(_run_async(module, args))
        else:
            code = module.run(args)
    except (ConfigError, StateError, FatalLearnError) as exc:
        print(f"gradesync: {exc}", file=sys.stderr)
        return EXIT_FATAL
    except GradesyncError as exc:
        print(f"gradesync: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `gradesync status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code
