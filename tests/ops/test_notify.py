"""The systemd notify protocol as a service manager receives it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gradesync.clock import ManualClock
from gradesync.notify import Notifier


@pytest.fixture(params=["abstract", "path"])
def manager(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket and the ``$NOTIFY_SOCKET`` naming it (``@`` for abstract)."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "abstract":
        name = f"@gradesync-notify-test-{id(receiver)}"
        receiver.bind("\0" + name[1:])
    else:
        name = str(tmp_path / "notify.sock")
        receiver.bind(name)
    receiver.settimeout(5)
    try:
        yield name, receiver
    finally:
        receiver.close()


def received(receiver: socket.socket, count: int) -> list[str]:
    return [receiver.recv(4096).decode() for _ in range(count)]


def test_state_changes_arrive_in_order_as_single_datagrams(
    manager: tuple[str, socket.socket],
) -> None:
    name, receiver = manager
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": name})
    assert notifier.ready("12 courses\nplanned")
    assert notifier.status("12 courses, 40 cycles")
    assert notifier.stopping()
    notifier.close()
    assert received(receiver, 3) == [
        "READY=1\nSTATUS=12 courses planned",
        "STATUS=12 courses, 40 cycles",
        "STOPPING=1",
    ]


async def test_watchdog_pings_at_most_once_per_half_period(
    manager: tuple[str, socket.socket],
) -> None:
    name, receiver = manager
    clock = ManualClock()
    notifier = Notifier.from_environ(
        {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "10000000"}, clock=clock
    )
    assert notifier.watchdog_seconds == 10
    sent = []
    for _ in range(11):  # the loop turns every second for ten seconds
        sent.append(notifier.watchdog())
        await clock.advance(1.0)
    notifier.close()
    assert sent == [True, False, False, False, False, True, False, False, False, False, True]
    assert received(receiver, 3) == ["WATCHDOG=1"] * 3


def test_a_watchdog_meant_for_another_process_is_left_alone() -> None:
    notifier = Notifier.from_environ(
        {"NOTIFY_SOCKET": "@nobody", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )
    assert notifier.watchdog_seconds is None
    assert not notifier.watchdog()


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_a_missing_socket_is_logged_once_and_never_raises(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"))
    with capture_logs() as logs:
        assert not notifier.ready()
        assert not notifier.status("still here")
    notifier.close()
    assert [entry["event"] for entry in logs] == ["notify.failed"]
