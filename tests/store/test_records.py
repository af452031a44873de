"""Records: idempotent writes, exact round trips, lookups by id."""

from __future__ import annotations

import pytest

from signals.events import Record
from signals.store.base import WARM_CHUNK, Batch, SignalQuery, Store

from .samples import record


async def all_records(store: Store) -> list[Record]:
    return [item async for item in store.export(SignalQuery())]


async def test_apply_returns_the_number_of_new_records(store: Store) -> None:
    first, second = record(1), record(2)
    assert await store.apply(Batch(records=[first, second])) == 2
    assert await store.apply(Batch(records=[first, second])) == 0
    assert await store.apply(Batch(records=[second, record(3)])) == 1
    assert len(await all_records(store)) == 3


async def test_the_same_event_twice_in_one_batch_is_stored_once(store: Store) -> None:
    original = record(1, text="first copy")
    copy = record(2, event_id=original.event_id, text="second copy")
    assert await store.apply(Batch(records=[original, copy])) == 1
    assert await all_records(store) == [original]


async def test_a_replayed_record_keeps_the_stored_version(store: Store) -> None:
    original = record(1, text="stored")
    await store.apply(Batch(records=[original]))
    await store.apply(Batch(records=[record(5, event_id=original.event_id, text="replayed")]))
    assert await store.get_records([original.event_id]) == {original.event_id: original}


async def test_an_empty_batch_is_a_no_op(store: Store) -> None:
    assert await store.apply(Batch(records=[])) == 0
    assert await all_records(store) == []


ROUND_TRIPS = [
    record(0),
    record(
        1,
        user_id="ユーザー-\U0001d518 ✓ مرحبا",
        signal_type="tool.call_v2-x",
        sentiment="stressed",
        sentiment_cues=["frustrated", "!!", "ça ne marche pas"],
        request_id="r:1.2-3",
        text='multi\nline "quoted" \\ back\tslash 🙂 ﷽ e\u0301',
        timestamp="2025-01-06T11:00:00.123+05:30",
        agent_id="agent/7",
        session_id="",
        metadata={
            "s": "text 😀",
            "i": -42,
            "big": 2**53 + 1,
            "f": 0.1,
            "neg": -1.5e-300,
            "whole_float": 3.0,
            "t": True,
            "n": None,
            "empty": "",
        },
    ),
    record(2, metadata={}, text=""),
    record(3, received_at="2025-01-06T12:00:03.5+02:00"),  # another offset, kept as given
]


async def test_every_field_round_trips_exactly(store: Store) -> None:
    await store.apply(Batch(records=ROUND_TRIPS))
    stored = await store.get_records([r.event_id for r in ROUND_TRIPS])
    assert stored == {r.event_id: r for r in ROUND_TRIPS}
    for original in ROUND_TRIPS:
        copy = stored[original.event_id]
        assert copy.metadata == original.metadata
        if original.metadata:
            for key, value in original.metadata.items():
                assert type(copy.metadata[key]) is type(value), key  # type: ignore[index]


async def test_a_nul_character_in_text_round_trips(store: Store) -> None:
    # JSON may carry U+0000 in any string and the event schema allows it in `text`.
    original = record(text="before\x00after")
    await store.apply(Batch(records=[original]))
    assert (await store.get_records([original.event_id]))[original.event_id] == original


async def test_get_records_returns_only_stored_ids(store: Store) -> None:
    stored = [record(i) for i in range(3)]
    await store.apply(Batch(records=stored))
    ids = [stored[0].event_id, "missing", stored[2].event_id, stored[0].event_id]
    assert await store.get_records(ids) == {
        stored[0].event_id: stored[0],
        stored[2].event_id: stored[2],
    }
    assert await store.get_records([]) == {}


async def test_get_records_handles_more_ids_than_one_statement_binds(store: Store) -> None:
    stored = [record(i * 0.001) for i in range(1200)]
    await store.apply(Batch(records=stored))
    found = await store.get_records([r.event_id for r in stored] + ["nope"])
    assert found == {r.event_id: r for r in stored}


async def recent(store: Store, limit: int) -> list[list[str]]:
    return [chunk async for chunk in store.recent_event_ids(limit)]


async def test_recent_event_ids_are_the_last_stored_first(store: Store) -> None:
    first, second, third = record(5), record(1), record(5)
    await store.apply(Batch(records=[first, second]))
    await store.apply(Batch(records=[third, first]))
    assert await recent(store, 10) == [[third.event_id, second.event_id, first.event_id]]
    assert await recent(store, 1) == [[third.event_id]]


async def test_recent_event_ids_come_in_chunks_that_resume_where_the_last_stopped(
    store: Store,
) -> None:
    stored = [record(i * 0.001) for i in range(WARM_CHUNK + 5)]
    for start in range(0, len(stored), 2000):
        await store.apply(Batch(records=stored[start : start + 2000]))
    newest_first = [r.event_id for r in reversed(stored)]
    assert await recent(store, len(stored) + 10) == [
        newest_first[:WARM_CHUNK],
        newest_first[WARM_CHUNK:],
    ]
    assert await recent(store, WARM_CHUNK + 2) == [
        newest_first[:WARM_CHUNK],
        newest_first[WARM_CHUNK : WARM_CHUNK + 2],
    ]
    assert await recent(store, WARM_CHUNK) == [newest_first[:WARM_CHUNK]]


async def test_recent_event_ids_of_an_empty_store_or_for_none(store: Store) -> None:
    assert await recent(store, 5) == []
    await store.apply(Batch(records=[record(1)]))
    assert await recent(store, 0) == []


async def test_ping_answers(store: Store) -> None:
    await store.ping()


async def test_a_record_with_a_bad_received_at_fails_the_batch(store: Store) -> None:
    good = record(1)
    with pytest.raises(ValueError):
        await store.apply(Batch(records=[good, record(received_at="yesterday")]))
    assert await all_records(store) == []
