"""Events per second from the outbox to each kind of sink, through the real deliverer.

Commits N synthetic grade events (valid CloudEvents: 1000 students x N/1000 columns) to a real
SQLite store, starts the webhook receiver and the fake SIS of ``gradesync.sinks.testing`` in
processes of their own (this script with ``--serve``), then drains the whole outbox into each
sink in turn: the file sink, the webhook one event per POST and in batches, and both SIS
protocols. Checks that each receiver holds everything, prints progress on stderr and ends with
one JSON line on stdout:

    python bench/delivery.py [--events 100000] [--webhook-batch 100] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gradesync import logs
from gradesync.clock import SystemClock
from gradesync.config.sinks import SisSinkConfig, WebhookSinkConfig
from gradesync.sinks.base import Sink
from gradesync.sinks.delivery import Deliverer
from gradesync.sinks.file import FileSink
from gradesync.sinks.sis import GradesJourneySink, UpsertSink
from gradesync.sinks.testing import FakeSis, WebhookReceiver, fill_outbox, grade_event
from gradesync.sinks.webhook import WebhookSink
from gradesync.store import SQLiteStateStore

SECRET = "whsec_" + base64.b64encode(b"benchmark signing key").decode()
TOKEN = "bench-token"
STUDENTS = 1000


async def serve(kind: str) -> None:
    """Serve a receiver of ``gradesync.sinks.testing`` until SIGTERM; print its URL first."""
    server = WebhookReceiver(keep=False) if kind == "webhook" else FakeSis(token=TOKEN)
    await server.start()
    print(server.url, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


@contextlib.contextmanager
def receiver(kind: str) -> Iterator[str]:
    """This script serving a ``kind`` receiver in a process of its own; yields its URL."""
    command = [sys.executable, __file__, "--serve", kind]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit(f"the {kind} receiver did not start (exit code {process.poll()})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as answer:
        result: dict[str, int] = json.load(answer)
    return result


def synthetic(count: int) -> list[dict[str, Any]]:
    """``count`` created grades, each of its own student and column, a second apart."""
    start = datetime.now(UTC) - timedelta(seconds=count)
    return [
        grade_event(
            user=f"_{n % STUDENTS}_1",
            user_external=f"s{n % STUDENTS}",
            column=f"_{n // STUDENTS}_1",
            column_name=f"Column {n // STUDENTS}",
            column_external=f"COL-{n // STUDENTS}",
            grade={"score": float(n % 11), "changeIndex": n + 1},
            time=start + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def sinks(tmp: Path, webhook: str, sis: str, batch: int) -> dict[str, Callable[[], Sink]]:
    def hook(name: str, size: int) -> WebhookSink:
        cfg = {"type": "webhook", "name": name, "url": webhook, "secret": SECRET}
        return WebhookSink(WebhookSinkConfig.model_validate(cfg | {"batch_size": size}))

    def sis_config(protocol: str) -> SisSinkConfig:
        cfg = {"type": "sis", "protocol": protocol, "base_url": sis, "token": TOKEN}
        return SisSinkConfig.model_validate(cfg | {"name": f"sis-{protocol}"})

    return {
        "file": lambda: FileSink(tmp / "events.jsonl", name="file"),
        "webhook": lambda: hook("webhook", 1),
        f"webhook-batch{batch}": lambda: hook(f"webhook-batch{batch}", batch),
        "sis-upsert": lambda: UpsertSink(sis_config("upsert")),
        "sis-gradesjourney": lambda: GradesJourneySink(sis_config("gradesjourney")),
    }


async def drain(store: SQLiteStateStore, sink: Sink) -> float:
    """Seconds to deliver the whole outbox to ``sink``."""
    name = sink.name
    await store.register_sinks([name])
    deliverer = Deliverer(store, sink, SystemClock())
    await sink.open()
    started = time.perf_counter()
    try:
        wait = await deliverer.drain()
    finally:
        await sink.close()
    seconds = time.perf_counter() - started
    if wait is not None or deliverer.stats.refused:
        raise SystemExit(f"{name}: not everything delivered ({deliverer.stats})")
    return seconds


async def measure(args: argparse.Namespace, webhook: str, sis: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        events = synthetic(args.events)
        async with SQLiteStateStore(Path(tmp) / "state.db") as store:
            started = time.perf_counter()
            await fill_outbox(store, events)
            print(
                f"outbox: {args.events} events in {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
            rates: dict[str, float] = {}
            for name, build in sinks(Path(tmp), webhook, sis, args.webhook_batch).items():
                if args.only and name not in args.only:
                    continue
                seconds = await drain(store, build())
                rates[name] = round(args.events / seconds, 1)
                print(f"{name}: {seconds:.1f}s, {rates[name]} events/s", file=sys.stderr)
    received = stats(webhook)["events"]
    expected = args.events * sum(1 for name in rates if name.startswith("webhook"))
    if received != expected:
        raise SystemExit(f"the webhook receiver holds {received} events, not {expected}")
    held = stats(sis)
    if "sis-upsert" in rates and held["grades"] != args.events:
        raise SystemExit(f"the fake SIS holds {held['grades']} grades, not {args.events}")
    if "sis-gradesjourney" in rates and held["values"] != args.events:
        raise SystemExit(f"the fake SIS holds {held['values']} values, not {args.events}")
    return {"events": args.events, "events_per_second": rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--webhook-batch", type=int, default=100)
    parser.add_argument("--only", nargs="*", metavar="NAME", help="measure only these sinks")
    parser.add_argument("--serve", choices=["webhook", "sis"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    logs.configure("warning", stream=sys.stderr)  # stdout carries the one JSON line
    with receiver("webhook") as webhook, receiver("sis") as sis:
        result = asyncio.run(measure(args, webhook, sis))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
