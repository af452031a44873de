"""What the dashboard shows equals a direct count over the events, for every range it offers.

Each example stores events around a random "now": exactly on the range's ends and its buckets'
edges (and a microsecond either side), on rollup slot edges, in the current partial bucket,
and anywhere else in or near the range; sometimes derives the closed slots first, sometimes
stores late events after that. Then the range the endpoint would ask for (`aligned_window`)
must give exactly what counting the events one by one gives. Each example has a store of its
own (a new file, or a new PostgreSQL schema).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.postgres_server import skip_reason

from signals.events import Record
from signals.ingest.history import RANGES
from signals.ingest.stats_cache import aligned_window
from signals.store.base import Batch, Store

from .conftest import BACKENDS
from .samples import BASE_US, DAY, record
from .test_stats import SENTIMENTS, oracle

S = 1_000_000
FreshStore = Callable[[], AbstractAsyncContextManager[Store]]


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
async def fresh_store(request: pytest.FixtureRequest, tmp_path: Path) -> FreshStore:
    if request.param == "postgres" and (reason := await skip_reason()):
        pytest.skip(reason)
    numbers = itertools.count()

    @asynccontextmanager
    async def fresh() -> AsyncIterator[Store]:
        async with (
            BACKENDS[request.param](tmp_path / str(next(numbers))) as opener,
            opener() as store,
        ):
            yield store

    return fresh


def instants(since: int, until: int, bucket: int, now: int) -> st.SearchStrategy[int]:
    bucket_us = bucket * S
    origin = since // bucket_us * bucket_us
    edges = [since, until, now]
    edges += [origin + k * bucket_us for k in range((until - origin) // bucket_us + 1)][:40]
    for level in (10, 60, 3600, 86_400):
        size = level * S
        edges += [since // size * size + size, until // size * size, now // size * size]
    near_edge = st.tuples(st.sampled_from(edges), st.sampled_from([-1, 0, 1])).map(sum)
    current = st.integers(until - bucket_us, until - 1)  # the partial bucket at the end
    anywhere = st.integers(since - bucket_us, until + bucket_us)
    return st.one_of(near_edge, current, anywhere)


@settings(
    max_examples=40,
    deadline=None,
    # The fixture only makes stores: each example opens one of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_dashboard_counts_equal_a_direct_count(
    fresh_store: FreshStore, data: st.DataObject
) -> None:
    async with fresh_store() as store:
        await check_one_range(store, data)


async def check_one_range(store: Store, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(list(RANGES)), label="range")
    seconds, bucket = RANGES[name]
    now = BASE_US + data.draw(st.integers(0, DAY * S), label="now")
    since, until = aligned_window(seconds, now / S)
    assert until - since == seconds * S and until % (10 * S) == 0 and since <= now < until

    def records(times: list[int]) -> list[Record]:
        return [
            record(
                (t - BASE_US) / S,
                user_id=f"u{data.draw(st.integers(0, 12), label='user')}",
                signal_type=data.draw(st.sampled_from(["message", "error", "handoff"])),
                sentiment=data.draw(st.sampled_from(SENTIMENTS)),
            )
            for t in times
        ]

    moments = instants(since, until, bucket, now)
    stored = records(data.draw(st.lists(moments, min_size=1, max_size=40), label="times"))
    await store.apply(Batch(records=stored))
    if data.draw(st.booleans(), label="derive closed slots"):
        await store.seal(now, since_us=0)
        late = records(data.draw(st.lists(moments, max_size=10), label="late"))
        await store.apply(Batch(records=late))
        stored += late
    got = await store.stats(since, until, bucket)
    assert got == oracle(stored, [], since, until, bucket)
