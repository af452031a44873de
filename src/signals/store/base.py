"""The store interface. SQLite (embedded default) and PostgreSQL implement it; one contract
suite (tests/store/) runs against both.

All times crossing this interface are RFC 3339 strings as in `Record.received_at`, except the
`*_us` query bounds, which are epoch microseconds (UTC), the unit the stores index on.
Cursors are opaque strings made by the store; a cursor it cannot read raises `BadCursor`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar

from msgspec import Struct

from signals.events import Record
from signals.journal.position import JournalPosition
from signals.records.delivery import Delivery, DeliveryStatus
from signals.records.episode import Episode

T = TypeVar("T")


class BadCursor(ValueError):
    """A pagination cursor that this store did not make (or that was tampered with)."""


class Batch(Struct, kw_only=True):
    """What one consumer step writes, in one transaction."""

    records: list[Record]
    # New or changed: upserted by id. A store several instances share merges instead, so that
    # their writes of one episode may commit in any order (see `postgres_rows.UPSERT_EPISODE`).
    episodes: list[Episode] = []
    deliveries: list[Delivery] = []  # new outbox entries: inserted, an existing id is kept
    checkpoint_name: str | None = None
    checkpoint: JournalPosition | None = None  # the consumer's position after these records


class SignalQuery(Struct, kw_only=True):
    user_id: str | None = None
    signal_type: str | None = None
    sentiment: str | None = None
    since_us: int | None = None  # inclusive
    until_us: int | None = None  # exclusive
    limit: int = 100
    cursor: str | None = None


class AnomalyQuery(Struct, kw_only=True):
    user_id: str | None = None
    severity: Literal["warning", "critical"] | None = None
    signal_type: str | None = None
    since_us: int | None = None  # on opened_at, inclusive
    limit: int = 100
    cursor: str | None = None


class AlertQuery(Struct, kw_only=True):
    status: DeliveryStatus | None = None
    limit: int = 100
    cursor: str | None = None


class Page(Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None


class Bucket(Struct, kw_only=True):
    start: str
    counts: dict[str, int]  # sentiment -> events that started in this bucket


class AnomalyBucket(Struct, kw_only=True):
    start: str
    counts: dict[str, int]  # severity -> episodes opened in this bucket


class TopUser(Struct, kw_only=True):
    user_id: str
    events: int
    stressed: int


class Stats(Struct, kw_only=True):
    since: str
    until: str
    bucket_seconds: int
    buckets: list[Bucket]  # every bucket of the range, oldest first, empty ones included
    by_signal_type: dict[str, int]
    by_sentiment: dict[str, int]
    top_users: list[TopUser]  # by events, at most 10
    # False when the ranking could not be proved complete (see `signals.store.ranking`): every
    # user shown has exact counts, but another user might belong among them.
    top_users_exact: bool
    anomalies_by_severity: dict[str, int]
    anomaly_buckets: list[AnomalyBucket]
    recent_anomalies: list[Episode]  # newest first, at most 20


# Event ids per chunk of `Store.recent_event_ids`.
WARM_CHUNK = 10_000
# (seq below, at most) -> (seq, event_id) rows, highest seq first: one chunk of one backend.
NewestRows = Callable[[int, int], Awaitable[Sequence[Any]]]


async def newest_event_ids(fetch: NewestRows, limit: int) -> AsyncIterator[list[str]]:
    """`Store.recent_event_ids` over a backend's `fetch`: each chunk a query that resumes
    below the last seq read, so no query holds more than `WARM_CHUNK` rows."""
    below = (1 << 63) - 1  # above every seq: the largest 64-bit integer, what both backends use
    while limit > 0:
        rows = await fetch(below, min(limit, WARM_CHUNK))
        if not rows:
            return
        yield [row[1] for row in rows]
        limit -= len(rows)
        below = rows[-1][0]


class Store(Protocol):
    async def apply(self, batch: Batch) -> int:
        """Write a batch atomically; records are idempotent by event_id. Returns new records."""
        ...

    async def checkpoint(self, name: str) -> JournalPosition | None: ...

    async def save_checkpoint(self, name: str, position: JournalPosition) -> None: ...

    def recent_event_ids(self, limit: int) -> AsyncIterator[list[str]]:
        """The newest `limit` event ids, newest first, in chunks of at most `WARM_CHUNK`: warms
        the idempotency horizon at start without holding a million ids at once."""
        ...

    async def get_records(self, event_ids: list[str]) -> dict[str, Record]: ...

    async def ping(self) -> None:
        """Raise if the store cannot answer."""
        ...

    async def signals(self, query: SignalQuery) -> Page[Record]:
        """Newest first (received_at, then insertion order), keyset-paginated."""
        ...

    def export(self, query: SignalQuery) -> AsyncIterator[Record]:
        """Oldest first, streamed in chunks: memory stays flat however many records match."""
        ...

    def export_lines(self, query: SignalQuery) -> AsyncIterator[bytes]:
        """The records of `export` as NDJSON (a record's JSON as msgspec encodes it, then a
        newline), yielded in pieces of whole lines; built by the database where it can, so a
        record is never decoded only to be encoded again."""
        ...

    async def stats(self, since_us: int, until_us: int, bucket_seconds: int) -> Stats: ...

    async def open_episodes(self) -> list[Episode]: ...

    async def anomalies(self, query: AnomalyQuery) -> Page[Episode]:
        """Newest first by opened_at, keyset-paginated."""
        ...

    async def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries whose next_attempt_at <= now, oldest first."""
        ...

    async def save_delivery(self, delivery: Delivery) -> None:
        """Update status, attempts and next_attempt_at of an existing delivery."""
        ...

    async def claim_deliveries(
        self, now: float, limit: int, lease_seconds: float
    ) -> list[Delivery]:
        """`due_deliveries`, each one leased: its next_attempt_at moves to now + lease_seconds
        in the same step, so no other claim (another dispatcher sharing the store) gets it until
        `save_delivery` records the attempt or the lease runs out (its claimer died). Returned
        as they were before the lease. Raises ValueError for limit < 1 or lease_seconds <= 0.
        """
        ...

    async def deliveries(self, query: AlertQuery) -> Page[Delivery]:
        """Newest first by created_at, keyset-paginated."""
        ...

    async def seal(self, now_us: int, since_us: int | None = None) -> int:
        """Derive the user minutes, hours and days that have closed by `now_us` and are not
        derived yet or changed since (`signals.store.sealing`); returns how many. `since_us`
        None re-checks the recent past only; a time re-checks everything stored since then.
        Stats are exact without it, and faster with it."""
        ...

    async def prune(self, before_us: int, limit: int) -> int:
        """Delete up to `limit` rows older than `before_us` (a whole UTC day, else ValueError):
        events, rollups of every level, closed episodes opened before it, and delivered or
        failed deliveries created before it. Returns how many; 0 when nothing is left. Each
        call is one short transaction."""
        ...

    async def reclaim(self, max_pages: int) -> int:
        """Hand up to `max_pages` freed pages back to the file system; returns how many (0 when
        none are free, or where the backend keeps its own space, as PostgreSQL does)."""
        ...

    async def aclose(self) -> None: ...
