"""The windows contract (docs/semantics.md), run against every backend: memory and Redis."""

from __future__ import annotations

import asyncio

import pytest
from tests.integrity.windows.samples import BASE, TRICKY_USERS, MakeWindows

from signals.integrity.episodes.severity import severity_for
from signals.integrity.windows.base import WindowEvent


def burst(user: str, count: int, *, start: float = BASE, step: float = 0.001) -> list[WindowEvent]:
    return [WindowEvent(user, "message", f"{user}-{i}", start + i * step) for i in range(count)]


async def test_counts_each_event_in_order(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    assert await windows.add(burst("u", 4, step=1.0)) == [1, 2, 3, 4]
    assert windows.status == "ok"


async def test_an_empty_batch_counts_nothing(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    assert await windows.add([]) == []


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (1, {1: None, 2: "critical"}),
        (2, {2: None, 3: "critical"}),
        (3, {3: None, 4: "warning", 5: "critical"}),
        (7, {7: None, 8: "warning", 10: "warning", 11: "critical"}),
        (10, {10: None, 11: "warning", 14: "warning", 15: "critical"}),
    ],
)
async def test_threshold_boundaries_come_from_exact_counts(
    make_windows: MakeWindows, threshold: int, expected: dict[int, str | None]
) -> None:
    windows = await make_windows()
    counts = await windows.add(burst("u", max(expected)))
    assert counts == list(range(1, max(expected) + 1))
    assert {c: severity_for(c, threshold) for c in counts if c in expected} == expected


@pytest.mark.parametrize("base", [BASE, 1_700_000_000.1, 1_767_225_600.999999, 1_234_567_890.7])
async def test_an_event_exactly_one_window_older_no_longer_counts(
    make_windows: MakeWindows, base: float
) -> None:
    windows = await make_windows(seconds=5.0)
    assert await windows.add([WindowEvent("u", "t", "a", base),
                              WindowEvent("u", "t", "b", base + 5.0)]) == [1, 1]  # fmt: skip
    assert await windows.add([WindowEvent("v", "t", "a", base),
                              WindowEvent("v", "t", "b", base + 4.999999)]) == [1, 2]  # fmt: skip


async def test_a_fractional_window_keeps_its_edge(make_windows: MakeWindows) -> None:
    windows = await make_windows(seconds=0.25)
    events = [WindowEvent("u", "t", str(i), BASE + i * 0.125) for i in range(5)]
    assert await windows.add(events) == [1, 2, 2, 2, 2]


async def test_the_window_slides_and_a_quiet_key_starts_again(make_windows: MakeWindows) -> None:
    windows = await make_windows(seconds=5.0)
    assert await windows.add(burst("u", 5, step=1.0)) == [1, 2, 3, 4, 5]
    assert await windows.add([WindowEvent("u", "message", "late", BASE + 6.5)]) == [4]
    assert await windows.add([WindowEvent("u", "message", "later", BASE + 30)]) == [1]


async def test_the_same_event_id_counts_once(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    event = WindowEvent("u", "t", "e1", BASE)
    assert await windows.add([event]) == [1]
    assert await windows.add([event]) == [1]
    assert await windows.add([WindowEvent("u", "t", "e1", BASE + 1), event]) == [1, 1]
    assert await windows.add([WindowEvent("u", "t", "e2", BASE + 2)]) == [2]


async def test_an_event_id_is_per_key(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    events = [WindowEvent("u", "t", "e", BASE), WindowEvent("v", "t", "e", BASE),
              WindowEvent("u", "s", "e", BASE)]  # fmt: skip
    assert await windows.add(events) == [1, 1, 1]


async def test_an_event_id_that_left_the_window_counts_again(make_windows: MakeWindows) -> None:
    windows = await make_windows(seconds=5.0)
    assert await windows.add([WindowEvent("u", "t", "e", BASE)]) == [1]
    assert await windows.add([WindowEvent("u", "t", "e", BASE + 10)]) == [1]
    assert await windows.add([WindowEvent("u", "t", "f", BASE + 11)]) == [2]


async def test_an_older_event_joins_the_window_of_newer_ones(make_windows: MakeWindows) -> None:
    windows = await make_windows(seconds=5.0)
    assert await windows.add([WindowEvent("u", "t", "b", BASE + 2),
                              WindowEvent("u", "t", "a", BASE + 1)]) == [1, 2]  # fmt: skip
    assert await windows.add([WindowEvent("u", "t", "c", BASE + 6.5)]) == [2]
    assert await windows.add([WindowEvent("u", "t", "d", BASE + 7.5)]) == [2]


async def test_many_users_in_one_batch_are_counted_apart(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    users = [f"user-{n}" for n in range(300)]
    events = [WindowEvent(user, "message", f"{user}/{i}", BASE + i * 0.01)
              for i in range(3) for user in users]  # fmt: skip
    counts = await windows.add(events)
    assert counts == [1] * 300 + [2] * 300 + [3] * 300


async def test_user_ids_with_any_characters_never_collide(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    events = [WindowEvent(user, kind, f"{n}-{i}", BASE + i * 0.01)
              for n, user in enumerate(TRICKY_USERS) for kind in ("message", "message.x")
              for i in range(n + 1)]  # fmt: skip
    counts = await windows.add(events)
    finals = {(e.user_id, e.signal_type): c for e, c in zip(events, counts, strict=True)}
    for n, user in enumerate(TRICKY_USERS):
        assert finals[user, "message"] == n + 1, user
        assert finals[user, "message.x"] == n + 1, user


async def test_a_batch_of_1000_for_one_key_in_one_call(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    assert await windows.add(burst("hot", 1000, step=0.001)) == list(range(1, 1001))


async def test_a_batch_of_1000_keys_in_one_call(make_windows: MakeWindows) -> None:
    windows = await make_windows()
    events = [WindowEvent(f"user-{n}", "t", "e", BASE) for n in range(1000)]
    assert await windows.add(events) == [1] * 1000


async def test_a_batch_longer_than_a_script_call_keeps_order(make_windows: MakeWindows) -> None:
    windows = await make_windows(seconds=1.0)
    counts = await windows.add(burst("hot", 4500, step=0.0005))
    assert counts == list(range(1, 2001)) + [2000] * 2500


async def test_concurrent_callers_on_one_key_get_exact_counts(make_windows: MakeWindows) -> None:
    windows = await make_windows()

    async def caller(n: int) -> list[int]:
        events = [WindowEvent("u", "t", f"{n}-{i}", BASE + n * 0.001 + i * 0.0001)
                  for i in range(10)]  # fmt: skip
        counts: list[int] = []
        for event in events[:5]:
            counts += await windows.add([event])
        return counts + await windows.add(events[5:])

    results = await asyncio.gather(*(caller(n) for n in range(60)))
    assert sorted(count for counts in results for count in counts) == list(range(1, 601))
