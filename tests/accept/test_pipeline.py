"""The accept path on its own: claim ids, reserve room, journal, hand off, answer.

Every part is the real one: a journal in a tmp directory whose commit callback is the integrity
`Handoff`, a SQLite store, the backlog and the idempotency index. No consumer runs, so the test
plays it where needed: room reserved by the test stands for events journaled but not yet stored,
and `backlog.release` for the consumer storing them. Requests that must overlap are tasks; the
loop is turned with `turn()`, never a clock, except to outwait a horizon or a backlog wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from tests.store.samples import record

from signals.accept.backlog import Backlog
from signals.accept.idempotency import Answer, IdempotencyIndex
from signals.accept.pipeline import Answered, Overloaded, Pipeline
from signals.events import Record, record_decoder
from signals.integrity.handoff import Committed, Handoff
from signals.journal import Journal, JournalClosed, JournalError
from signals.journal.interface import LocalJournal
from signals.metrics import Metrics
from signals.settings import JournalSettings
from signals.store.base import Batch
from signals.store.sqlite.store import SqliteStore

LONG = 60.0  # a wait no test reaches: the test decides when room frees up
SHORT = 0.01  # a wait meant to run out


@dataclass(frozen=True)
class Rig:
    pipeline: Pipeline
    journal: Journal
    handoff: Handoff
    backlog: Backlog
    index: IdempotencyIndex
    store: SqliteStore
    metrics: Metrics

    async def journaled(self) -> list[Record]:
        """Every record in the journal, in its order; reading stops at what is committed."""
        return [record_decoder.decode(line) async for line, _ in self.journal.read()]

    def handed_off(self) -> list[Committed]:
        """What the consumer would take from the handoff now, in order."""
        items = []
        while not self.handoff.queue.empty():
            item = self.handoff.queue.get_nowait()
            assert item is not None
            items.append(item)
        return items

    async def consume(self) -> None:
        """Play the consumer: store what was handed off, tell the index, free the room."""
        for group in self.handed_off():
            await self.store.apply(Batch(records=group.records))
            self.index.stored(record.event_id for record in group.records)
            self.backlog.release(len(group.records))

    def counted(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


RigMaker = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigMaker]:
    """Opens the accept path. `held` room is taken by events the consumer has not stored yet;
    `reopen=` keeps an earlier rig's index, backlog and store and opens its journal directory
    again, as a restarted writer would."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            *,
            capacity: int = 1000,
            max_ids: int = 1000,
            horizon_seconds: float = 3600.0,
            held: int = 0,
            wait: float = LONG,
            reopen: Rig | None = None,
        ) -> Rig:
            handoff = Handoff()
            journal = await Journal.open(
                tmp_path / "journal", JournalSettings(), on_commit=handoff.on_commit
            )
            stack.push_async_callback(journal.aclose)
            if reopen is None:
                store = await SqliteStore.open(tmp_path / "signals.db")
                stack.push_async_callback(store.aclose)
                backlog = Backlog(capacity)
                index = IdempotencyIndex(max_ids, horizon_seconds)
                metrics = Metrics()
            else:
                store, backlog, index = reopen.store, reopen.backlog, reopen.index
                metrics = reopen.metrics
            pipeline = Pipeline(
                journal=LocalJournal(journal),
                backlog=backlog,
                index=index,
                store=store,
                metrics=metrics,
                queue_wait_seconds=wait,
            )
            await backlog.reserve(held, 0)
            return Rig(pipeline, journal, handoff, backlog, index, store, metrics)

        yield make


@pytest.fixture
async def rig(make_rig: RigMaker) -> Rig:
    return await make_rig()


def event(event_id: str, **fields: Any) -> Record:
    return record(event_id=event_id, **fields)


def retry_of(first: Record) -> Record:
    """The same event_id sent again, received later by another request, classified otherwise."""
    return record(1.0, event_id=first.event_id, sentiment="negative", sentiment_cues=["not again"])


def answer(of: Record) -> Answer:
    return Answer(of.event_id, of.sentiment, tuple(of.sentiment_cues), of.received_at)


def new(of: Record) -> Answered:
    return Answered(answer(of), duplicate=False)


def duplicate_of(first: Record) -> Answered:
    return Answered(answer(first), duplicate=True)


def ids(records: list[Record]) -> list[str]:
    return [r.event_id for r in records]


async def turn() -> None:
    """Let every task that can run, run."""
    for _ in range(5):
        await asyncio.sleep(0)


@contextlib.contextmanager
def files_limited_to(size: int) -> Iterator[None]:
    """Writes that would grow a file past `size` bytes fail with EFBIG, as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@contextlib.asynccontextmanager
async def no_hang(within: float = 10.0) -> AsyncIterator[None]:
    """A request that never gets its answer fails the test instead of hanging it."""
    async with asyncio.timeout(within):
        yield


# The good path.


async def test_new_records_are_answered_once_journaled_and_handed_off_in_one_group(
    rig: Rig,
) -> None:
    records = [
        event("n-1", sentiment="positive", sentiment_cues=["thanks"]),
        event("n-2", sentiment="negative", sentiment_cues=["broken"]),
        event("n-3"),
    ]
    assert await rig.pipeline.accept(records) == [new(r) for r in records]
    # `read` stops at the committed position, so the answers came after the commit.
    assert await rig.journaled() == records
    (group,) = rig.handed_off()
    assert group.records == records
    assert group.position == rig.journal.committed
    assert rig.backlog.used == 3  # held until the consumer has stored them
    assert rig.counted("signals_events_total", signal_type="message", sentiment="positive") == 1


async def test_a_retry_within_the_horizon_gets_the_first_answer_and_writes_nothing(
    rig: Rig,
) -> None:
    first = event("retried", sentiment="positive", sentiment_cues=["great"])
    assert await rig.pipeline.accept([first]) == [new(first)]
    assert await rig.pipeline.accept([retry_of(first)]) == [duplicate_of(first)]
    assert await rig.journaled() == [first]
    assert len(rig.handed_off()) == 1
    assert rig.backlog.used == 1
    assert rig.counted("signals_duplicate_events_total") == 1


async def test_a_batch_repeating_an_id_writes_it_once_and_answers_the_copy_as_a_duplicate(
    rig: Rig,
) -> None:
    a, b = event("batch-a", sentiment="positive"), event("batch-b")
    answered = await rig.pipeline.accept([a, b, retry_of(a)])
    assert answered == [new(a), new(b), duplicate_of(a)]
    assert await rig.journaled() == [a, b]
    assert rig.backlog.used == 2


async def test_two_concurrent_requests_with_one_id_write_it_once_and_get_one_answer(
    rig: Rig,
) -> None:
    one = event("raced", sentiment="positive")
    other = retry_of(one)
    (first,), (second,) = await asyncio.gather(
        rig.pipeline.accept([one]), rig.pipeline.accept([other])
    )
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert first.answer == second.answer
    (written,) = await rig.journaled()
    assert answer(written) == first.answer
    assert rig.backlog.used == 1


async def test_a_copy_arriving_while_the_first_waits_for_room_waits_for_its_answer(
    make_rig: RigMaker,
) -> None:
    rig = await make_rig(capacity=1, held=1)
    first = event("patient", sentiment="positive")
    writing = asyncio.create_task(rig.pipeline.accept([first]))
    copy = asyncio.create_task(rig.pipeline.accept([retry_of(first)]))
    await turn()
    assert not writing.done() and not copy.done()
    assert await rig.journaled() == []
    rig.backlog.release(1)
    async with no_hang():
        assert await writing == [new(first)]
        assert await copy == [duplicate_of(first)]
    assert await rig.journaled() == [first]


async def test_an_id_this_server_generated_is_remembered_once_written(rig: Rig) -> None:
    generated = event("generated-1")
    assert await rig.pipeline.accept([generated], [True]) == [new(generated)]
    assert await rig.pipeline.accept([retry_of(generated)], [False]) == [duplicate_of(generated)]
    assert await rig.journaled() == [generated]


async def test_an_id_warmed_from_the_store_is_answered_with_the_stored_record(rig: Rig) -> None:
    stored = event("stored-earlier", sentiment="positive", sentiment_cues=["thanks"])
    await rig.store.apply(Batch(records=[stored]))
    async for event_ids in rig.store.recent_event_ids(1000):
        rig.index.warm(event_ids)
    assert await rig.pipeline.accept([retry_of(stored)]) == [duplicate_of(stored)]
    assert await rig.pipeline.accept([retry_of(stored)]) == [duplicate_of(stored)]
    assert await rig.journaled() == []
    assert rig.backlog.used == 0


async def test_records_reach_the_handoff_in_journal_order(rig: Rig) -> None:
    batches = [[event(f"order-{i}-{j}") for j in range(i % 3 + 1)] for i in range(40)]
    await asyncio.gather(*(rig.pipeline.accept(batch) for batch in batches))
    groups = rig.handed_off()
    assert [r for group in groups for r in group.records] == await rig.journaled()
    positions = [group.position for group in groups if group.position is not None]
    assert len(positions) == len(groups)
    assert positions == sorted(set(positions))
    assert positions[-1] == rig.journal.committed
    # Each request's records arrive together, as one group.
    assert sorted(ids(group.records) for group in groups) == sorted(ids(batch) for batch in batches)


async def test_a_request_cancelled_after_journaling_still_hands_off_and_remembers_its_id(
    rig: Rig,
) -> None:
    first = event("hung-up", sentiment="positive")
    request = asyncio.create_task(rig.pipeline.accept([first]))
    await asyncio.sleep(0)  # the request runs until it waits for the journal's commit
    assert not request.done()
    request.cancel()  # the client hangs up
    with pytest.raises(asyncio.CancelledError):
        await request
    async with no_hang():
        group = await rig.handoff.queue.get()
    assert group is not None and group.records == [first]
    assert await rig.pipeline.accept([retry_of(first)]) == [duplicate_of(first)]
    assert await rig.journaled() == [first]


# Past the horizon.


async def test_an_id_past_the_count_horizon_is_written_again(make_rig: RigMaker) -> None:
    rig = await make_rig(max_ids=2)
    first = event("counted-out")
    await rig.pipeline.accept([first])
    later = [event(f"later-{n}") for n in range(4)]  # twice the horizon: surely forgotten
    for one in later:
        await rig.pipeline.accept([one])
    await rig.consume()
    retry = retry_of(first)
    assert await rig.pipeline.accept([retry]) == [new(retry)]
    assert ids(await rig.journaled()) == ["counted-out", *ids(later), "counted-out"]


async def test_an_id_past_the_age_horizon_is_written_again(make_rig: RigMaker) -> None:
    rig = await make_rig(horizon_seconds=0.001)
    first = event("aged-out")
    await rig.pipeline.accept([first])
    await rig.consume()
    await asyncio.sleep(0.02)  # well past the horizon: the forgetting is what is asserted
    retry = retry_of(first)
    assert await rig.pipeline.accept([retry]) == [new(retry)]
    assert await rig.journaled() == [first, retry]


async def test_an_unstored_answer_outlives_the_horizon(make_rig: RigMaker) -> None:
    # The consumer lags (the store is down): a retry must still be answered, not rewritten.
    rig = await make_rig(max_ids=2, horizon_seconds=0.001)
    first = event("waiting-for-the-store", sentiment="positive")
    await rig.pipeline.accept([first])
    for n in range(4):
        await rig.pipeline.accept([event(f"later-{n}")])
    await asyncio.sleep(0.02)
    assert await rig.pipeline.accept([retry_of(first)]) == [duplicate_of(first)]
    assert ids(await rig.journaled()).count(first.event_id) == 1


# Ids the store answers for.


async def test_a_retry_after_the_event_was_stored_is_answered_by_the_store(rig: Rig) -> None:
    first = event("stored-then-retried", sentiment="positive", sentiment_cues=["great"])
    await rig.pipeline.accept([first])
    await rig.consume()
    assert rig.index.live == 0
    copies = await asyncio.gather(*(rig.pipeline.accept([retry_of(first)]) for _ in range(3)))
    assert copies == [[duplicate_of(first)]] * 3
    assert await rig.journaled() == [first]
    assert rig.index.live == 0
    assert rig.counted("signals_duplicate_events_total") == 3


async def test_an_id_the_filter_holds_but_the_store_does_not_is_written(rig: Rig) -> None:
    # What a false "maybe" of the filter looks like: the store decides, and it has nothing.
    rig.index.warm(["never-stored"])
    record = event("never-stored")
    copy = retry_of(record)
    first, second = await asyncio.gather(rig.pipeline.accept([record]), rig.pipeline.accept([copy]))
    assert first == [new(record)]
    assert second == [duplicate_of(record)]
    assert await rig.journaled() == [record]


# A full backlog.


async def test_a_backlog_full_for_the_whole_wait_answers_overloaded_and_writes_nothing(
    make_rig: RigMaker,
) -> None:
    rig = await make_rig(capacity=2, wait=SHORT, held=2)
    a, b = event("refused-a"), event("refused-b")
    with pytest.raises(Overloaded):
        await rig.pipeline.accept([a, b])
    assert await rig.journaled() == []
    assert rig.handed_off() == []
    assert rig.backlog.used == 2
    # Nothing was written, so the ids are free: the client's retry is accepted as new.
    rig.backlog.release(2)
    async with no_hang():
        assert await rig.pipeline.accept([a, b]) == [new(a), new(b)]
    assert await rig.journaled() == [a, b]


async def test_a_copy_waiting_on_an_overloaded_request_is_told_overloaded_too(
    make_rig: RigMaker,
) -> None:
    # Intake maps Overloaded to 503 + Retry-After; anything else the copy raised would be a 500.
    rig = await make_rig(capacity=1, wait=SHORT, held=1)
    first = event("overloaded")
    async with no_hang():
        results = await asyncio.gather(
            rig.pipeline.accept([first]),
            rig.pipeline.accept([retry_of(first)]),
            return_exceptions=True,
        )
    assert [type(result) for result in results] == [Overloaded, Overloaded]
    assert await rig.journaled() == []


async def test_a_request_cancelled_while_waiting_for_room_frees_its_ids(
    make_rig: RigMaker,
) -> None:
    rig = await make_rig(capacity=1, held=1)
    first = event("gave-up")
    request = asyncio.create_task(rig.pipeline.accept([first]))
    await turn()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    rig.backlog.release(1)
    retry = retry_of(first)
    async with no_hang():
        assert await rig.pipeline.accept([retry]) == [new(retry)]
    assert await rig.journaled() == [retry]
    assert rig.backlog.used == 1


async def test_a_copy_waiting_on_a_request_cancelled_before_writing_is_told_to_retry(
    make_rig: RigMaker,
) -> None:
    rig = await make_rig(capacity=1, held=1)
    first = event("abandoned")
    request = asyncio.create_task(rig.pipeline.accept([first]))
    copy = asyncio.create_task(rig.pipeline.accept([retry_of(first)]))
    await turn()
    request.cancel()
    async with no_hang():
        with pytest.raises(Overloaded):
            await copy
    assert request.cancelled()
    assert await rig.journaled() == []


async def test_a_copy_waiting_on_a_claim_pushed_past_the_count_horizon_gets_its_answer(
    make_rig: RigMaker,
) -> None:
    rig = await make_rig(capacity=3, max_ids=2, held=3)
    first = event("pushed-out", sentiment="positive")
    writing = asyncio.create_task(rig.pipeline.accept([first]))
    copy = asyncio.create_task(rig.pipeline.accept([retry_of(first)]))
    await turn()
    others = asyncio.create_task(rig.pipeline.accept([event("other-1"), event("other-2")]))
    await turn()
    rig.backlog.release(3)
    async with no_hang():
        assert await writing == [new(first)]
        await others
        assert await copy == [duplicate_of(first)]
    assert ids(await rig.journaled()).count("pushed-out") == 1


# A failing journal.


async def test_a_closed_journal_fails_the_request_and_frees_its_ids_and_room(
    make_rig: RigMaker,
) -> None:
    rig = await make_rig()
    await rig.journal.aclose()
    a, b = event("unwritten-a"), event("unwritten-b")
    with pytest.raises(JournalClosed):
        await rig.pipeline.accept([a, b])
    assert rig.backlog.used == 0
    assert rig.handed_off() == []
    # A journal opened again on the same directory takes the retry: nothing blocks the ids.
    reopened = await make_rig(reopen=rig)
    async with no_hang():
        assert await reopened.pipeline.accept([a, b]) == [new(a), new(b)]
    assert await reopened.journaled() == [a, b]
    assert reopened.backlog.used == 2


async def test_a_copy_waiting_on_a_request_whose_journal_fails_gets_the_failure(
    make_rig: RigMaker,
) -> None:
    rig = await make_rig()
    await rig.journal.aclose()
    first = event("failed")
    async with no_hang():
        results = await asyncio.gather(
            rig.pipeline.accept([first]),
            rig.pipeline.accept([retry_of(first)]),
            return_exceptions=True,
        )
    assert [type(result) for result in results] == [JournalClosed, JournalClosed]
    assert rig.backlog.used == 0


async def test_a_failed_write_frees_the_ids_and_the_running_journal_takes_the_retry(
    rig: Rig,
) -> None:
    before = event("before")
    await rig.pipeline.accept([before])
    a, b = event("full-disk-a"), event("full-disk-b")
    limit = rig.journal.committed.offset + 10
    # Logs are captured in memory: under the limit, a log file written meanwhile would fail too.
    with capture_logs(), files_limited_to(limit), pytest.raises(JournalError) as failed:
        await rig.pipeline.accept([a, b])
    assert failed.value.errno == errno.EFBIG
    assert await rig.journaled() == [before]
    assert len(rig.handed_off()) == 1
    assert rig.backlog.used == 1
    # The journal goes on after a failed group; the ids were never written, so they are free.
    async with no_hang():
        assert await rig.pipeline.accept([b, a]) == [new(b), new(a)]
    assert await rig.journaled() == [before, b, a]
    assert rig.backlog.used == 3
