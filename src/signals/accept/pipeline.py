"""The durable accept path both ports share: claim ids, reserve room, journal, hand off.

    request ─> Pipeline.accept ─> IdempotencyIndex.claim ─> Backlog.reserve ─> journal submit
                                                                                   │ (group commit)
    integrity Consumer <─ Handoff (`signals.integrity.handoff`, the journal's commit callback)

A record is answered only after the journal made it durable; it reaches the consumer through the
journal's commit callback, so the queue's order is the journal's order even when the request that
wrote it was cancelled meanwhile. The consumer tells the index (`stored`) once the store has the
records, and the store's unique index answers for them from then on.

On JetStream (`signals.jetstream`) the stream itself is the backlog and the consumers pull from
it, so no room is reserved here (`backlog=None`); and the journal may answer that an id was
already written (a retry that went to another instance): that record is answered as the
duplicate it is, with the answer of the copy stored first.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Sequence
from functools import partial
from typing import NamedTuple

import msgspec

from signals.accept.backlog import Backlog, BacklogFull
from signals.accept.idempotency import ASK_STORE, Answer, IdempotencyIndex
from signals.errors import StoreUnavailable
from signals.events import Record, record_decoder
from signals.journal.interface import Appended, JournalBackend
from signals.metrics import Metrics
from signals.store.base import Store
from signals.store.failures import is_store_failure

_encode = msgspec.json.Encoder().encode


class Overloaded(Exception):
    """The backlog stayed full for the whole wait: nothing was written."""


class Answered(NamedTuple):
    """What a request learns of one record: its answer, and whether it was a duplicate."""

    answer: Answer
    duplicate: bool


def answer_of(record: Record) -> Answer:
    return Answer(
        record.event_id, record.sentiment, tuple(record.sentiment_cues), record.received_at
    )


class Pipeline:
    def __init__(
        self,
        *,
        journal: JournalBackend,
        backlog: Backlog | None,
        index: IdempotencyIndex,
        store: Store,
        metrics: Metrics,
        queue_wait_seconds: float,
    ) -> None:
        self._journal = journal
        self._backlog = backlog
        self._index = index
        self._store = store
        self._metrics = metrics
        self._wait = queue_wait_seconds

    async def accept(
        self, records: Sequence[Record], generated: Sequence[bool] | None = None
    ) -> list[Answered]:
        """Make `records` durable (each id at most once) and answer each, in order.

        `generated[i]` says record i's id was made by this server just now: nobody can have
        sent it before, so it skips the lookup and the claim (and is remembered after commit).
        """
        index = self._index
        # Per record: None to write it, or the answer (or future) of an earlier copy.
        earlier: list[Answer | asyncio.Future[Answer] | None] = []
        asked: list[int] = []
        for i, record in enumerate(records):
            if generated is not None and generated[i]:
                earlier.append(None)
                continue
            seen = index.lookup(record.event_id)
            if seen is None or seen is ASK_STORE:
                index.claim(record.event_id)
                if seen is ASK_STORE:
                    asked.append(i)
                earlier.append(None)
            else:
                earlier.append(seen)
        if asked:
            await self._ask_store(records, earlier, asked)
        fresh = [record for record, seen in zip(records, earlier, strict=True) if seen is None]
        answers = [answer_of(record) for record in fresh]
        held: Collection[int] = ()
        if fresh:
            held = await self._write(fresh, answers)
        accepted: list[Answered] = []
        written = iter(enumerate(answers))
        for seen in earlier:
            if seen is None:
                i, answer = next(written)
                accepted.append(Answered(answer, i in held))
            else:
                accepted.append(Answered(await self._earlier(seen), True))
        duplicates = len(records) - len(fresh) + len(held)
        if duplicates:
            self._metrics.duplicates.inc(duplicates)
        return accepted

    async def _ask_store(
        self,
        records: Sequence[Record],
        earlier: list[Answer | asyncio.Future[Answer] | None],
        asked: list[int],
    ) -> None:
        """The filter may hold these ids (claimed meanwhile, so a copy waits for the outcome):
        the store says which it has, and those are answered with the stored record."""
        try:
            found = await self._store.get_records([records[i].event_id for i in asked])
        except BaseException as exc:
            # Nothing was written: the ids are free again, and a copy waiting on them gets this
            # request's refusal (503 for a store that does not answer), or is told to retry.
            error: BaseException = exc
            if not isinstance(exc, Exception):
                error = Overloaded("the request that sent this event_id first gave up")
            elif is_store_failure(exc):
                error = StoreUnavailable(f"{type(exc).__name__}: {exc}")
            claimed = [r for r, seen in zip(records, earlier, strict=True) if seen is None]
            self._release(claimed, error)
            if isinstance(error, StoreUnavailable):
                raise error from exc
            raise
        for i in asked:
            stored = found.get(records[i].event_id)
            if stored is not None:
                answer = answer_of(stored)
                self._index.found(answer)
                earlier[i] = answer

    async def _write(self, fresh: list[Record], answers: list[Answer]) -> Collection[int]:
        """Journal `fresh`; returns the indexes of those the journal already held (JetStream),
        whose entries in `answers` are then the answers of the copies stored first."""
        backlog = self._backlog
        if backlog is not None and not backlog.try_reserve(len(fresh)):
            try:
                await backlog.reserve(len(fresh), self._wait)
            except BacklogFull as exc:
                # A copy waiting on these claims is refused as this request is (503, retry later).
                self._release(fresh, Overloaded(str(exc)))
                raise Overloaded(str(exc)) from None
            except BaseException:
                # Cancelled while waiting for room: nothing was written, so the ids are free
                # again, and a copy waiting on them is told to retry instead of waiting for ever.
                self._release(
                    fresh, Overloaded("the request that sent this event_id first gave up")
                )
                raise
        try:
            write = self._journal.submit([_encode(record) for record in fresh], fresh)
        except BaseException as exc:
            self._release(fresh, exc)
            if backlog is not None:
                backlog.release(len(fresh))
            raise
        # Once the journal has the lines, their outcome settles the claims even if this request
        # is cancelled (a client hanging up must not unclaim a written id): the callback is the
        # journal's future's, and the request only waits on a shield of it. Registered first,
        # the callback has run (and rewritten `answers`) by the time the request resumes.
        write.add_done_callback(partial(self._settle, fresh, answers))
        appended = await asyncio.shield(write)
        return appended.earlier.keys()

    def _settle(
        self, fresh: list[Record], answers: list[Answer], write: asyncio.Future[Appended]
    ) -> None:
        error = asyncio.CancelledError() if write.cancelled() else write.exception()
        if error is not None:
            self._release(fresh, error)
            if self._backlog is not None:
                self._backlog.release(len(fresh))
            return
        earlier = write.result().earlier
        if earlier:
            # Ids the journal already held are answered with the copy stored first.
            for i, line in earlier.items():
                answers[i] = _answer_of_line(line, fresh[i])
            self._index.held(answers[i] for i in earlier)
            fresh = [record for i, record in enumerate(fresh) if i not in earlier]
            answers = [answer for i, answer in enumerate(answers) if i not in earlier]
        self._index.settle(answers)
        counts = Counter((record.signal_type, record.sentiment) for record in fresh)
        self._metrics.count_events(counts)

    def _release(self, records: list[Record], error: BaseException) -> None:
        for record in records:
            self._index.release(record.event_id, error)

    async def _earlier(self, seen: Answer | asyncio.Future[Answer]) -> Answer:
        if type(seen) is Answer:
            return seen
        assert isinstance(seen, asyncio.Future)
        return await asyncio.shield(seen)


def _answer_of_line(line: bytes, ours: Record) -> Answer:
    """The answer the stored copy of a duplicate gave; ours if that copy cannot be read (it was
    not written by `signals`: the id still counts as taken)."""
    try:
        return answer_of(record_decoder.decode(line))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return answer_of(ours)
