"""The systemd notify protocol (sd_notify(3)) in a few lines: datagrams to ``$NOTIFY_SOCKET``.

``gradesync run`` under ``Type=notify`` says ``READY=1`` once its state is open and its first
plan is made, ``WATCHDOG=1`` from the scheduler loop itself (so a stuck loop gets restarted),
``STATUS=`` with a one-line summary and ``STOPPING=1`` on shutdown. Outside systemd (no
``$NOTIFY_SOCKET``) every call does nothing, so the daemon needs no mode of its own for it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

from gradesync.clock import Clock, SystemClock

log = structlog.get_logger("gradesync.notify")


def _address(name: str) -> str:
    """A socket name as ``sendto`` takes it: ``@name`` is Linux's abstract namespace."""
    return "\0" + name[1:] if name.startswith("@") else name


def _watchdog_seconds(environ: Mapping[str, str]) -> float | None:
    """``$WATCHDOG_USEC`` in seconds, when the watchdog is on and meant for this process."""
    pid = environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Notifier:
    """Sends state changes to the service manager; a no-op when there is none.

    ``watchdog()`` may be called as often as the loop turns: it sends at most once per half
    of the watchdog period, as sd_watchdog_enabled(3) advises.
    """

    def __init__(
        self,
        socket_name: str | None,
        *,
        watchdog_seconds: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._address = _address(socket_name) if socket_name else None
        self._clock: Clock = clock or SystemClock()
        self.watchdog_seconds = watchdog_seconds if self._address else None
        self._socket: socket.socket | None = None
        self._last_ping: float | None = None
        self._failed = False

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, *, clock: Clock | None = None
    ) -> Notifier:
        """The notifier systemd's environment describes (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``)."""
        env = os.environ if environ is None else environ
        return cls(
            env.get("NOTIFY_SOCKET") or None, watchdog_seconds=_watchdog_seconds(env), clock=clock
        )

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines as one datagram; True when it left."""
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(assignments).encode(), self._address)
        except OSError as exc:
            # Worth one line: a unit waiting for READY=1 will time out and restart the daemon.
            if not self._failed:
                log.warning("notify.failed", reason=str(exc))
                self._failed = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([_status(status)] if status else []))

    def status(self, text: str) -> bool:
        return self.send(_status(text))

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        """Ping the watchdog if half its period has passed since the last ping."""
        if self.watchdog_seconds is None:
            return False
        now = self._clock.monotonic()
        if self._last_ping is not None and now - self._last_ping < self.watchdog_seconds / 2:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _status(text: str) -> str:
    return "STATUS=" + " ".join(text.split())
