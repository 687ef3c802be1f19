"""``gradesync check`` for sinks: can each sink be reached, without sending a grade?

- a file sink: its directory exists and is writable (nothing is created);
- a webhook: one ``HEAD`` to its URL gets any HTTP answer (which proves the network path and
  the TLS certificate; a 405 is fine), nothing is POSTed;
- an SIS: one ``HEAD`` to its base URL gets any answer, and an OAuth2 token is issued (a
  static token is sent with grades only, so it cannot be proven here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gradesync.clock import Clock, SystemClock
from gradesync.config.sinks import FileSinkConfig, SisSinkConfig, WebhookSinkConfig
from gradesync.sinks.http import HttpSession
from gradesync.sinks.sis.auth import SisAuth

PROBE_TIMEOUT = 10.0  # seconds for one probe request


@dataclass(frozen=True)
class SinkCheck:
    """How one sink's check ended: ``ok``, and what was found, in one line without secrets."""

    ok: bool
    detail: str


async def check_file(cfg: FileSinkConfig, clock: Clock | None = None) -> SinkCheck:
    path = cfg.path
    directory = path.parent if str(path.parent) else path.cwd()
    if not directory.is_dir():
        return SinkCheck(False, f"the directory {directory} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        return SinkCheck(False, f"{path} is not writable")
    if not path.exists() and not os.access(directory, os.W_OK | os.X_OK):
        return SinkCheck(False, f"{path} cannot be created: {directory} is not writable")
    return SinkCheck(True, f"{path} is writable")


async def _reachable(http: HttpSession, url: str) -> SinkCheck:
    answer = await http.send("HEAD", url, quote_body=False)
    if answer.status == 0:
        return SinkCheck(False, f"unreachable: {answer.detail}")
    return SinkCheck(True, f"reachable ({answer.detail})")


async def check_webhook(cfg: WebhookSinkConfig, clock: Clock | None = None) -> SinkCheck:
    timeout = min(PROBE_TIMEOUT, cfg.timeout.total_seconds())
    http = HttpSession(clock or SystemClock(), timeout=timeout, verify_tls=cfg.verify_tls)
    try:
        return await _reachable(http, cfg.url)
    finally:
        await http.close()


async def check_sis(cfg: SisSinkConfig, clock: Clock | None = None) -> SinkCheck:
    clock = clock or SystemClock()
    http = HttpSession(clock, timeout=PROBE_TIMEOUT)
    try:
        reached = await _reachable(http, cfg.base_url)
        if not reached.ok:
            return reached
        if cfg.oauth is None:
            return SinkCheck(True, f"{reached.detail}; static token, checked on first delivery")
        header = await SisAuth(cfg, clock).header(http)
        if not isinstance(header, str):
            return SinkCheck(False, header.detail)
        return SinkCheck(True, f"{reached.detail}; a token was issued")
    finally:
        await http.close()
