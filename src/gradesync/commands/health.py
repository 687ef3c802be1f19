"""``gradesync health``: ask the running daemon's health endpoint; exit 0 when it says healthy.

For container health checks: it only reads ``[health] listen`` and asks the endpoint, it never
opens the state or talks to Learn.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request

from gradesync.commands.common import add_config_argument
from gradesync.config import load_settings
from gradesync.errors import ConfigError
from gradesync.health import url_host


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument(
        "--ready", action="store_true", help="ask /readyz (readiness) instead of /healthz"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="(default: 10)"
    )


def probe_url(address: tuple[str, int], path: str) -> str:
    """The URL to probe a daemon listening on ``address``; a wildcard host means this host."""
    host, port = address
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{url_host(host)}:{port}{path}"


def run(args: argparse.Namespace) -> int:
    """Ask the running daemon's health endpoint; print its answer; 0 on 200, else 1."""
    settings = load_settings(args.config)
    address = settings.health.address
    if address is None:
        raise ConfigError(
            f"{settings.source}: health.listen: the health endpoint is off; "
            'set it (as in "127.0.0.1:9108") for gradesync run and for this probe'
        )
    url = probe_url(address, "/readyz" if args.ready else "/healthz")
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(exc.read().decode())
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"gradesync health: cannot reach {url}: {reason}", file=sys.stderr)
        return 1
