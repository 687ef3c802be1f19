"""``gradesync health``: ask the running daemon's health endpoint; exit 0 when it says healthy.

For container health checks: it never opens the state, never talks to Learn and never
validates the configuration. The endpoint's address comes from ``--url``, else
``GRADESYNC_HEALTH__LISTEN``, else the ``[health] listen`` key of the TOML file alone: a bad
edit elsewhere in a mounted configuration must not mark a healthy daemon unhealthy (the
daemon keeps the configuration it started with until a reload accepts a new one).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from gradesync.commands.common import add_config_argument
from gradesync.config.values import parse_listen
from gradesync.errors import ConfigError
from gradesync.health import url_host

LISTEN_ENV = "GRADESYNC_HEALTH__LISTEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--url",
        type=base_url,
        help="the daemon's health endpoint, as in http://127.0.0.1:9108 "
        f"(default: from ${LISTEN_ENV}, else [health] listen of the configuration)",
    )
    parser.add_argument(
        "--ready", action="store_true", help="ask /readyz (readiness) instead of /healthz"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="(default: 10)"
    )


def base_url(text: str) -> str:
    """``--url``: an http(s) URL of a host and port, without a path; no trailing slash."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r}: not an http:// or https:// URL")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the endpoint without a path, as in http://127.0.0.1:9108"
        )
    return f"{parts.scheme}://{parts.netloc}"


def probe_url(address: tuple[str, int], path: str) -> str:
    """The URL to probe a daemon listening on ``address``; a wildcard host means this host."""
    host, port = address
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{url_host(host)}:{port}{path}"


def endpoint(url: str | None, config: str | None, env: Mapping[str, str], path: str) -> str:
    """The URL to ask: ``url`` when given, else from the listen address the environment or
    the configuration file names. Raises ``ConfigError`` when none names an address."""
    if url is not None:
        return url + path
    source, listen = listen_setting(config, env)
    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise ConfigError(f"{source}: health.listen: {exc}") from None
    if address is None:
        raise ConfigError(
            f"{source}: health.listen: the health endpoint is off; "
            'set it (as in "127.0.0.1:9108") for gradesync run and for this probe, '
            "or give --url"
        )
    return probe_url(address, path)


def listen_setting(config: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """``(where it was found, the value)`` of ``health.listen``: the environment variable wins
    over the file, as it does for the daemon. Nothing else of the file is read or checked."""
    for name, value in env.items():
        if name.upper() == LISTEN_ENV:
            return f"environment variable {name}", value
    if not config:
        return "environment", ""
    try:
        with Path(config).open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{config}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{config}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise ConfigError(f"{config}: malformed TOML; health.listen cannot be read") from None
    section = data.get("health", {})
    listen = section.get("listen", "") if isinstance(section, dict) else None
    if not isinstance(listen, str):
        raise ConfigError(f'{config}: health.listen: must be a string, as in "127.0.0.1:9108"')
    return config, listen


def run(args: argparse.Namespace) -> int:
    """Ask the running daemon's health endpoint; print its answer; 0 on 200, else 1."""
    path = "/readyz" if args.ready else "/healthz"
    url = endpoint(args.url, args.config, os.environ, path)
    # The daemon is on this host or beside it: never through an HTTP proxy of the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=args.timeout) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode())
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"gradesync health: cannot reach {url}: {reason}", file=sys.stderr)
        return 1
