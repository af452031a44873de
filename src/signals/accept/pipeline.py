"""The durable accept path both ports share: claim ids, reserve room, journal, hand off.

    request ─> Pipeline.accept ─> IdempotencyIndex.claim ─> Backlog.reserve ─> Journal.append
                                                                                   │ (group commit)
    integrity Consumer <─ Handoff (`signals.integrity.handoff`, the journal's commit callback)

A record is answered only after the journal made it durable; it reaches the consumer through the
journal's commit callback, so the queue's order is the journal's order even when the request that
wrote it was cancelled meanwhile.

On JetStream (`signals.jetstream`) the stream itself is the backlog and the consumers pull from
it, so no room is reserved here (`backlog=None`); and the journal may answer that an id was
already written (a retry that went to another instance): that record is answered as the
duplicate it is, with the answer of the copy stored first.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import msgspec

from signals.accept.backlog import Backlog, BacklogFull
from signals.accept.idempotency import Answer, IdempotencyIndex
from signals.errors import StoreUnavailable
from signals.events import Record, record_decoder
from signals.journal.interface import JournalBackend
from signals.metrics import Metrics
from signals.store.base import Store
from signals.store.failures import is_store_failure

_encoder = msgspec.json.Encoder()


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
        fresh: list[Record] = []
        slots: list[Record | tuple[str, object]] = []
        for i, record in enumerate(records):
            if generated is not None and generated[i]:
                fresh.append(record)
                slots.append(record)
                continue
            seen = self._index.lookup(record.event_id)
            if seen is None:
                self._index.claim(record.event_id)
                fresh.append(record)
                slots.append(record)
            else:
                slots.append((record.event_id, seen.answer))
        earlier: dict[str, Answer] = {}
        if fresh:
            earlier = await self._write(fresh)
        accepted = []
        for slot in slots:
            if not isinstance(slot, Record):
                accepted.append(Answered(await self._earlier(*slot), duplicate=True))
            elif slot.event_id in earlier:
                accepted.append(Answered(earlier[slot.event_id], duplicate=True))
            else:
                accepted.append(Answered(answer_of(slot), duplicate=False))
        duplicates = len(records) - len(fresh) + len(earlier)
        if duplicates:
            self._metrics.duplicates.inc(duplicates)
        return accepted

    async def _write(self, fresh: list[Record]) -> dict[str, Answer]:
        """Journal `fresh`; returns the answers of those the journal already held, by id."""
        if self._backlog is not None:
            try:
                await self._backlog.reserve(len(fresh), self._wait)
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
        # Shielded: once the journal has the lines, their outcome settles the claims even if
        # this request is cancelled (a client hanging up must not unclaim a written id).
        write = asyncio.ensure_future(self._append(fresh))
        write.add_done_callback(lambda done: self._settle(fresh, done))
        return await asyncio.shield(write)

    async def _append(self, fresh: list[Record]) -> dict[str, Answer]:
        lines = [_encoder.encode(record) for record in fresh]
        appended = await self._journal.append(lines, fresh)
        return {
            fresh[index].event_id: _answer_of_line(line, fresh[index])
            for index, line in appended.earlier.items()
        }

    def _settle(self, fresh: list[Record], write: asyncio.Future[dict[str, Answer]]) -> None:
        if write.cancelled() or write.exception() is not None:
            error = write.exception() if not write.cancelled() else asyncio.CancelledError()
            assert error is not None
            self._release(fresh, error)
            if self._backlog is not None:
                self._backlog.release(len(fresh))
            return
        earlier = write.result()
        counts: Counter[tuple[str, str]] = Counter()
        for record in fresh:
            first = earlier.get(record.event_id)
            self._index.settle(first or answer_of(record))
            if first is None:
                counts[record.signal_type, record.sentiment] += 1
        for (signal_type, sentiment), count in counts.items():
            self._metrics.events.labels(
                self._metrics.signal_type_label(signal_type), sentiment
            ).inc(count)

    def _release(self, fresh: list[Record], error: BaseException) -> None:
        for record in fresh:
            self._index.release(record.event_id, error)

    async def _earlier(self, event_id: str, answer: object) -> Answer:
        if isinstance(answer, Answer):
            return answer
        if isinstance(answer, asyncio.Future):
            return await asyncio.shield(answer)
        # An id warmed from the store at start: its answer is the stored record.
        try:
            stored = (await self._store.get_records([event_id])).get(event_id)
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if stored is None:
            raise LookupError(f"event {event_id} is in the idempotency horizon but not stored")
        answer = answer_of(stored)
        self._index.settle(answer)
        return answer


def _answer_of_line(line: bytes, ours: Record) -> Answer:
    """The answer the stored copy of a duplicate gave; ours if that copy cannot be read (it was
    not written by `signals`: the id still counts as taken)."""
    try:
        return answer_of(record_decoder.decode(line))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return answer_of(ours)
