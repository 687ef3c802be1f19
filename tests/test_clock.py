import asyncio

from gradesync.clock import ManualClock, sleep_or_event


async def test_manual_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(f"{name}@{clock.monotonic():g}")

    tasks = [asyncio.create_task(sleeper("late", 30)), asyncio.create_task(sleeper("soon", 5))]
    await asyncio.sleep(0)
    await clock.advance(10)
    assert woke == ["soon@5"]
    await clock.advance(100)
    assert woke == ["soon@5", "late@30"]
    assert clock.monotonic() == 110
    await asyncio.gather(*tasks)


async def test_sleep_or_event_ends_at_the_deadline_when_nothing_happens() -> None:
    clock = ManualClock()
    wake = asyncio.Event()
    waiting = asyncio.create_task(sleep_or_event(clock, 60, wake))
    for _ in range(3):  # let the wait begin
        await asyncio.sleep(0)
    assert clock.sleepers == 1
    await clock.advance(59)
    assert not waiting.done()
    await clock.advance(1)
    assert await waiting is False
    assert clock.sleepers == 0


async def test_sleep_or_event_ends_early_when_an_event_is_set() -> None:
    clock = ManualClock()
    stop, wake = asyncio.Event(), asyncio.Event()
    waiting = asyncio.create_task(sleep_or_event(clock, 3600, stop, wake))
    await clock.advance(10)
    wake.set()
    assert await waiting is True
    assert clock.sleepers == 0, "the sleep was cancelled, not left behind"
    assert await sleep_or_event(clock, None, wake) is True, "an event already set returns"
