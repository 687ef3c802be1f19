import asyncio

from gradesync.clock import ManualClock


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
