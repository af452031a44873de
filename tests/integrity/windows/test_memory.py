"""What only the memory backend promises: bounded memory (idle keys go, a hard key cap)."""

from __future__ import annotations

from tests.integrity.windows.samples import BASE

from signals.instants import micros
from signals.integrity.windows.base import WindowEvent
from signals.integrity.windows.memory import EVICT_PER_BATCH, SMALL_WINDOW, MemoryWindows
from signals.settings import WindowsSettings


def settings(seconds: float = 5.0, ttl_seconds: int = 60, max_keys: int = 1000) -> WindowsSettings:
    return WindowsSettings(seconds=seconds, ttl_seconds=ttl_seconds, max_keys=max_keys)


async def test_idle_keys_are_evicted_once_the_event_times_pass_their_ttl() -> None:
    windows = MemoryWindows(settings(ttl_seconds=60, max_keys=100_000))
    events = [WindowEvent(f"user-{n}", "message", f"e{n}", BASE + n * 0.001) for n in range(8_000)]
    await windows.add(events)
    assert windows.key_count == 8_000
    await windows.add([WindowEvent("late", "message", "x", BASE + 59.0)])
    assert windows.key_count == 8_001  # nobody idle for a full ttl yet
    await windows.add([WindowEvent("later", "message", "y", BASE + 60 + 4.0005)])
    assert windows.key_count == 8_002 - 4_001  # user-0 .. user-4000 went, the rest stay
    await windows.add([WindowEvent("last", "message", "z", BASE + 200)])
    assert windows.key_count == 1


async def test_one_batch_evicts_a_bounded_number_of_keys_and_the_rest_follow() -> None:
    windows = MemoryWindows(settings(ttl_seconds=60, max_keys=100_000))
    keys = EVICT_PER_BATCH + 2000
    await windows.add([WindowEvent(f"user-{n}", "t", "e", BASE) for n in range(keys)])
    await windows.add([WindowEvent("back", "t", "e", BASE + 3600)])
    assert windows.key_count == keys + 1 - EVICT_PER_BATCH
    await windows.add([WindowEvent("back", "t", "f", BASE + 3601)])
    assert windows.key_count == 1
    await windows.add([WindowEvent(f"user-{n}", "t", "e", BASE + 3602) for n in range(10)])
    await windows.add([WindowEvent("back", "t", "g", BASE + 7200)])
    assert windows.evict_idle() == 0  # the add already swept all ten
    assert windows.key_count == 1


async def test_a_key_that_keeps_getting_events_is_not_evicted() -> None:
    windows = MemoryWindows(settings(ttl_seconds=10))
    for second in range(0, 100, 3):
        await windows.add([WindowEvent("busy", "t", f"b{second}", BASE + second),
                           WindowEvent(f"once-{second}", "t", "o", BASE + second)])  # fmt: skip
    assert windows.key_count <= 1 + 4  # busy, plus the one-off users of the last 10 s
    assert await windows.add([WindowEvent("busy", "t", "again", BASE + 100)]) == [3]


async def test_max_keys_drops_the_least_recently_used_key() -> None:
    windows = MemoryWindows(settings(max_keys=1000))
    await windows.add([WindowEvent(f"user-{n}", "t", "a", BASE) for n in range(1000)])
    await windows.add([WindowEvent("user-0", "t", "b", BASE + 1)])  # user-0 is now the freshest
    await windows.add([WindowEvent("newcomer", "t", "a", BASE + 1)])
    assert windows.key_count == 1000
    assert await windows.add([WindowEvent("user-0", "t", "c", BASE + 2)]) == [3]
    assert await windows.add([WindowEvent("user-1", "t", "b", BASE + 2)]) == [1]  # was dropped


async def test_a_hot_key_trims_and_dedupes_past_the_small_window_size() -> None:
    windows = MemoryWindows(settings(seconds=1.0))
    events = [WindowEvent("hot", "t", f"e{i}", BASE + i * 0.01) for i in range(1000)]
    counts = await windows.add(events)
    assert counts == list(range(1, 101)) + [100] * 900
    assert await windows.add(events[-50:]) == [100] * 50  # replays of live ids
    assert await windows.add([WindowEvent("hot", "t", "x", BASE + 100)]) == [1]
    small = [WindowEvent("hot", "t", f"s{i}", BASE + 100 + i * 0.01) for i in range(SMALL_WINDOW)]
    assert (
        await windows.add(small + small)
        == list(range(2, SMALL_WINDOW + 2)) + [SMALL_WINDOW + 1] * SMALL_WINDOW
    )


async def test_live_events_are_what_the_windows_still_count_and_clear_empties_them() -> None:
    windows = MemoryWindows(settings(seconds=5.0))
    await windows.add([WindowEvent("u", "t", "old", BASE), WindowEvent("v", "t", "v1", BASE + 1)])
    await windows.add([WindowEvent("u", "t", "new", BASE + 5.5)])
    live = sorted(
        (e.user_id, e.signal_type, e.event_id, micros(e.at)) for e in windows.live_events()
    )
    assert live == [("u", "t", "new", micros(BASE + 5.5)), ("v", "t", "v1", micros(BASE + 1))]
    windows.clear()
    assert windows.key_count == 0
    assert windows.live_events() == []
    assert await windows.add([WindowEvent("u", "t", "new", BASE + 6)]) == [1]
