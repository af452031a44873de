"""Episodes: upserted by id, listed newest first by opened_at with filters and keyset pages."""

from __future__ import annotations

import msgspec
import pytest

from signals.records.episode import Episode
from signals.store.base import AnomalyQuery, BadCursor, Batch, SignalQuery, Store

from .samples import at, episode, record, us


async def walk(store: Store, query: AnomalyQuery) -> list[Episode]:
    items: list[Episode] = []
    cursor = query.cursor
    for _ in range(1000):
        page = await store.anomalies(msgspec.structs.replace(query, cursor=cursor))
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


async def test_an_episode_is_upserted_by_id(store: Store) -> None:
    opened = episode(10, severity="warning", peak_count=11, event_count=1, sample_event_ids=["a"])
    await store.apply(Batch(records=[], episodes=[opened]))
    assert await store.open_episodes() == [opened]

    escalated = msgspec.structs.replace(
        opened,
        severity="critical",
        peak_count=16,
        event_count=7,
        last_seen_at=at(12.5),
        sample_event_ids=["a", "b", "c"],
        alerted=["critical"],
    )
    await store.apply(Batch(records=[], episodes=[escalated]))
    assert (await store.anomalies(AnomalyQuery())).items == [escalated]

    closed = msgspec.structs.replace(escalated, closed_at=at(20))
    await store.apply(Batch(records=[], episodes=[closed]))
    assert (await store.anomalies(AnomalyQuery())).items == [closed]
    assert await store.open_episodes() == []


async def test_open_episodes_are_the_unclosed_ones(store: Store) -> None:
    still_open = [episode(5, user_id="bob"), episode(1, user_id="alice", signal_type="error")]
    done = episode(3, closed_at=at(9))
    await store.apply(Batch(records=[], episodes=[*still_open, done]))
    assert sorted(await store.open_episodes(), key=lambda e: e.id) == sorted(
        still_open, key=lambda e: e.id
    )


@pytest.fixture
async def many(store: Store) -> list[Episode]:
    episodes = [
        episode(
            float(n // 3),  # three episodes share each opened_at
            user_id=("alice", "bob")[n % 2],
            signal_type=("message", "error", "tool_call")[n % 3],
            severity=("warning", "critical")[n % 5 == 0],
        )
        for n in range(23)
    ]
    await store.apply(Batch(records=[record(0)], episodes=episodes[:10]))
    await store.apply(Batch(records=[], episodes=episodes[10:]))
    return episodes


def newest_first(episodes: list[Episode]) -> list[Episode]:
    # Every opened_at here comes from `at()`, one format, so strings sort as instants do.
    return sorted(episodes, key=lambda e: (e.opened_at, e.id), reverse=True)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"user_id": "alice"},
        {"severity": "critical"},
        {"signal_type": "error"},
        {"user_id": "bob", "severity": "warning", "signal_type": "message"},
        {"since_us": us(4)},
        {"since_us": us(4), "user_id": "alice"},
        {"user_id": "nobody"},
    ],
    ids=lambda f: ",".join(f) or "all",
)
async def test_pages_filter_and_cover_everything_once(
    store: Store, many: list[Episode], filters: dict[str, object]
) -> None:
    def matches(e: Episode) -> bool:
        return all(
            (e.opened_at >= at(4)) if key == "since_us" else getattr(e, key) == value
            for key, value in filters.items()
        )

    query = msgspec.convert({**filters, "limit": 2}, AnomalyQuery)
    assert await walk(store, query) == newest_first([e for e in many if matches(e)])


async def test_since_is_inclusive_on_opened_at(store: Store, many: list[Episode]) -> None:
    page = await store.anomalies(AnomalyQuery(since_us=us(7), limit=100))
    assert {e.opened_at for e in page.items} == {at(7)}
    assert len(page.items) == 2  # n = 21, 22


async def test_a_user_with_no_episodes_gets_an_empty_page(
    store: Store, many: list[Episode]
) -> None:
    page = await store.anomalies(AnomalyQuery(user_id="carol"))
    assert page.items == []
    assert page.next_cursor is None


async def test_bad_anomaly_cursors_are_refused(store: Store, many: list[Episode]) -> None:
    await store.apply(Batch(records=[record(1)]))
    signals_cursor = (await store.signals(SignalQuery(limit=1))).next_cursor
    assert signals_cursor is not None
    for cursor in ("garbage", signals_cursor):
        with pytest.raises(BadCursor):
            await store.anomalies(AnomalyQuery(cursor=cursor))


async def test_an_anomaly_limit_below_one_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.anomalies(AnomalyQuery(limit=0))
