"""Listing and exporting records: order, filters, time bounds, keyset pages, bad cursors."""

from __future__ import annotations

import base64
import random

import msgspec
import pytest

from signals.events import Record
from signals.instants import to_us
from signals.store.base import AnomalyQuery, BadCursor, Batch, SignalQuery, Store

from .conftest import StoreOpener
from .samples import episode, record, us


def newest_first(records: list[Record]) -> list[Record]:
    """The contract's order: received_at, then insertion order (`records` is in that order)."""
    indexed = list(enumerate(records))
    indexed.sort(key=lambda pair: (to_us(pair[1].received_at), pair[0]), reverse=True)
    return [r for _, r in indexed]


async def walk(store: Store, query: SignalQuery) -> list[Record]:
    """Every page of `query`, followed by cursor until next_cursor is None."""
    items: list[Record] = []
    cursor = query.cursor
    for _ in range(10_000):
        page = await store.signals(msgspec.structs.replace(query, cursor=cursor))
        assert len(page.items) <= query.limit
        items += page.items
        if page.next_cursor is None:
            return items
        assert page.items, "a page with a next cursor has items"
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


@pytest.fixture
async def mixed(store: Store) -> list[Record]:
    """60 records over ten minutes, with runs of equal received_at, in insertion order."""
    rng = random.Random(5)
    records = []
    for i in range(60):
        seconds = (i // 4) * 40 + rng.choice([0, 0, 3.000001])  # many exact ties
        records.append(
            record(
                seconds,
                user_id=rng.choice(["alice", "bob", "carol"]),
                signal_type=rng.choice(["message", "tool_call", "feedback"]),
                sentiment=rng.choice(["stressed", "positive", "uncertain", "neutral"]),
            )
        )
    rng.shuffle(records)  # arrival order is not time order
    for start in range(0, 60, 25):
        await store.apply(Batch(records=records[start : start + 25]))
    return records


@pytest.mark.parametrize("limit", [1, 3, 7, 60, 1000])
async def test_pages_cover_everything_once_in_order(
    store: Store, mixed: list[Record], limit: int
) -> None:
    assert await walk(store, SignalQuery(limit=limit)) == newest_first(mixed)


async def test_the_last_page_has_no_cursor(store: Store, mixed: list[Record]) -> None:
    page = await store.signals(SignalQuery(limit=60))
    assert len(page.items) == 60
    assert page.next_cursor is None
    page = await store.signals(SignalQuery(limit=59))
    assert page.next_cursor is not None
    last = await store.signals(SignalQuery(limit=59, cursor=page.next_cursor))
    assert len(last.items) == 1
    assert last.next_cursor is None


async def test_an_empty_store_lists_nothing(store: Store) -> None:
    page = await store.signals(SignalQuery())
    assert page.items == []
    assert page.next_cursor is None


async def test_ties_on_received_at_are_newest_inserted_first(store: Store) -> None:
    same = [record(10) for _ in range(9)]
    await store.apply(Batch(records=same[:4]))
    await store.apply(Batch(records=same[4:]))
    assert await walk(store, SignalQuery(limit=2)) == same[::-1]


async def test_order_follows_the_instant_not_the_string(store: Store) -> None:
    late_in_utc = record(received_at="2025-01-06T10:30:00.000000Z")
    early_with_offset = record(received_at="2025-01-06T12:00:00.000000+02:00")  # 10:00Z
    await store.apply(Batch(records=[late_in_utc, early_with_offset]))
    assert (await store.signals(SignalQuery())).items == [late_in_utc, early_with_offset]


FILTERS = [
    {"user_id": "alice"},
    {"signal_type": "tool_call"},
    {"sentiment": "stressed"},
    {"user_id": "bob", "sentiment": "positive"},
    {"user_id": "carol", "signal_type": "feedback"},
    {"signal_type": "message", "sentiment": "neutral"},
    {"user_id": "alice", "signal_type": "message", "sentiment": "uncertain"},
    {"user_id": "nobody"},
    {"signal_type": "never.seen"},
]


@pytest.mark.parametrize(
    "filters", FILTERS, ids=lambda f: "+".join(f"{k}={v}" for k, v in f.items())
)
async def test_filters_select_exactly_the_matching_records(
    store: Store, mixed: list[Record], filters: dict[str, str]
) -> None:
    expected = [
        r for r in newest_first(mixed) if all(getattr(r, k) == v for k, v in filters.items())
    ]
    assert await walk(store, msgspec.convert({**filters, "limit": 4}, SignalQuery)) == expected


async def test_since_is_inclusive_and_until_exclusive(store: Store) -> None:
    before, at_since, inside, at_until = record(9.999999), record(10), record(15), record(20)
    await store.apply(Batch(records=[before, at_since, inside, at_until]))
    page = await store.signals(SignalQuery(since_us=us(10), until_us=us(20)))
    assert page.items == [inside, at_since]
    assert (await store.signals(SignalQuery(since_us=us(20)))).items == [at_until]
    assert (await store.signals(SignalQuery(until_us=us(10)))).items == [before]
    assert (await store.signals(SignalQuery(since_us=us(10), until_us=us(10)))).items == []
    assert (await store.signals(SignalQuery(since_us=us(20.000001)))).items == []


@pytest.mark.parametrize(
    ("since", "until"), [(0, 600), (40, 41), (43.000001, 200), (200, 280), (120, 120), (500, 100)]
)
async def test_time_bounds_with_filters_and_pages(
    store: Store, mixed: list[Record], since: float, until: float
) -> None:
    expected = [
        r
        for r in newest_first(mixed)
        if us(since) <= to_us(r.received_at) < us(until) and r.user_id == "alice"
    ]
    query = SignalQuery(user_id="alice", since_us=us(since), until_us=us(until), limit=2)
    assert await walk(store, query) == expected


async def test_a_cursor_resumes_after_records_arrive(store: Store, mixed: list[Record]) -> None:
    first = await store.signals(SignalQuery(limit=10))
    newer = record(10_000)
    await store.apply(Batch(records=[newer]))
    rest = await walk(store, SignalQuery(limit=10, cursor=first.next_cursor))
    assert first.items + rest == newest_first(mixed)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_CURSORS = [
    "not a cursor",
    "!!!!",
    "",
    _b64(b"not json"),
    _b64(b"[]"),
    _b64(b'["signals", 1]'),
    _b64(b'["signals", "1", 2]'),
    _b64(b'["signals", 1, 2.5]'),
    _b64(b'["signals", 1, "id"]'),
    _b64(b'["signals", 1, 2, 3]'),
    _b64(b'["signals", 100000000000000000000, 2]'),
    _b64(b'{"kind": "signals"}'),
    _b64(b'["anomalies", 1, 2]'),
    "x" * 5000,
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
async def test_a_malformed_cursor_raises_bad_cursor(
    store: Store, mixed: list[Record], cursor: str
) -> None:
    with pytest.raises(BadCursor):
        await store.signals(SignalQuery(cursor=cursor))


async def test_a_cursor_from_another_listing_is_refused(store: Store) -> None:
    await store.apply(Batch(records=[record(1)], episodes=[episode(1), episode(2)]))
    anomalies = await store.anomalies(AnomalyQuery(limit=1))
    assert anomalies.next_cursor is not None
    with pytest.raises(BadCursor):
        await store.signals(SignalQuery(cursor=anomalies.next_cursor))


async def test_a_tampered_cursor_is_refused_or_harmless(store: Store, mixed: list[Record]) -> None:
    cursor = (await store.signals(SignalQuery(limit=5))).next_cursor
    assert cursor is not None
    for i in range(len(cursor)):
        tampered = cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1 :]
        try:
            page = await store.signals(SignalQuery(limit=5, cursor=tampered))
        except BadCursor:
            continue
        assert all(item in mixed for item in page.items)


@pytest.mark.parametrize("limit", [0, -1])
async def test_a_limit_below_one_is_refused(store: Store, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.signals(SignalQuery(limit=limit))


async def test_export_is_oldest_first_across_chunks(open_store: StoreOpener) -> None:
    async with open_store(batch_max=3) as store:
        records = [record(s) for s in (5, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 9, 0)]
        await store.apply(Batch(records=records[:6]))
        await store.apply(Batch(records=records[6:]))
        exported = [r async for r in store.export(SignalQuery())]
        assert exported == newest_first(records)[::-1]
        # Exactly a multiple of the chunk size, then one more, then fewer.
        for until in (3, 3.000001, 2.5):
            expected = [r for r in exported if to_us(r.received_at) < us(until)]
            got = [r async for r in store.export(SignalQuery(until_us=us(until)))]
            assert got == expected


async def test_export_applies_every_filter_and_ignores_paging(
    open_store: StoreOpener,
) -> None:
    async with open_store(batch_max=4) as store:
        records = [record(i, user_id=("alice", "bob")[i % 2]) for i in range(20)]
        await store.apply(Batch(records=records))
        query = SignalQuery(user_id="alice", since_us=us(3), until_us=us(17), limit=1)
        exported = [r async for r in store.export(query)]
        assert exported == [r for i, r in enumerate(records) if i % 2 == 0 and 3 <= i < 17]


async def test_export_of_nothing(store: Store) -> None:
    assert [r async for r in store.export(SignalQuery(user_id="nobody"))] == []


async def test_a_cursor_under_a_new_until_takes_the_lower_of_the_two(
    store: Store, mixed: list[Record]
) -> None:
    """A cursor kept from one listing and used with another `until`: whichever bound is lower
    decides, as if both applied."""
    first = await store.signals(SignalQuery(limit=20))
    assert first.next_cursor is not None
    cursor_us = to_us(first.items[-1].received_at)
    for until in (cursor_us - 40_000_000, cursor_us, cursor_us + 1, cursor_us + 400_000_000):
        got = await walk(store, SignalQuery(until_us=until, cursor=first.next_cursor, limit=7))
        expected = [r for r in newest_first(mixed)[20:] if to_us(r.received_at) < until]
        assert got == expected, until
