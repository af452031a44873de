"""The SQLite schema as an ordered list of migrations, tracked in `PRAGMA user_version`.

Migration N (1-based) brings a database from version N-1 to N. Each runs in its own transaction
together with the version bump, so a crash leaves the database at one version or the next,
never between; running `migrate` again applies only what is missing. A database newer than
this code is refused rather than guessed at.

Index choices (see `SqliteStore` for the queries they serve). What an index costs on insert is
mostly where it writes: time-ordered keys append to the same few pages, while a key such as
user_id touches a different page for almost every row, each one written to the WAL at commit.
- `events_time (received_us, user_id, signal_type, sentiment)`: the time order for the unfiltered
  listing, export and keyset resumes (ties on received_us are put in seq order by a small sort
  of just the tied rows), and it covers the raw ends of stats and the sentiment filter, which
  are then read without touching the table. It appends, so its width is nearly free;
- `events_user`, `events_signal_type` (column, received_us, then the implicit rowid = seq): an
  equality filter and the newest-first order in one index walk, stopping after `limit` rows.
  A signal type may be rare or absent, so it has an index; a sentiment is one of four, each a
  sizeable share of traffic, so a walk of `events_time` finds a page of one quickly;
- rollup tables are WITHOUT ROWID with the slot first: a time range is one contiguous read, and
  a batch's increments land in the few pages of the current slots;
- each user rollup has a rank index (slot, events DESC, user_id, stressed): a slot's busiest
  users are the first entries of its range, read without touching the table;
- `user_seals (level, slot) -> events`: what a derived user slot added up to when it was derived
  (see `signals.store.cover`).

Space: new files use `auto_vacuum = INCREMENTAL`, so pages that retention frees can be handed
back to the file system a few at a time (`PRAGMA incremental_vacuum`). SQLite can switch an
existing file to that mode only by rewriting it whole (VACUUM); `use_incremental_vacuum` does
that once, at the first open by this version, and logs how long it took.
"""

from __future__ import annotations

import sqlite3
import time

import aiosqlite
import structlog

from signals.errors import SchemaTooNew

log = structlog.get_logger(__name__)

# The start (epoch seconds) of the 10-second slot of `received_us`, rounding down before 1970 too.
_TEN_SECONDS = "(received_us - ((received_us % 10000000) + 10000000) % 10000000) / 1000000"


MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        received_us INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        user_id TEXT NOT NULL,
        signal_type TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        sentiment_cues TEXT NOT NULL,
        request_id TEXT NOT NULL,
        text TEXT,
        timestamp TEXT,
        agent_id TEXT,
        session_id TEXT,
        metadata TEXT
    );
    CREATE INDEX events_time ON events (received_us, user_id, signal_type, sentiment);
    CREATE INDEX events_user ON events (user_id, received_us);
    CREATE INDEX events_signal_type ON events (signal_type, received_us);

    CREATE TABLE counts_hour (
        slot INTEGER NOT NULL,
        signal_type TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (slot, signal_type, sentiment)
    ) WITHOUT ROWID;
    CREATE TABLE counts_quarter (
        slot INTEGER NOT NULL,
        signal_type TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (slot, signal_type, sentiment)
    ) WITHOUT ROWID;
    CREATE TABLE counts_minute (
        slot INTEGER NOT NULL,
        signal_type TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (slot, signal_type, sentiment)
    ) WITHOUT ROWID;
    CREATE TABLE users_day (
        slot INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        events INTEGER NOT NULL,
        stressed INTEGER NOT NULL,
        PRIMARY KEY (slot, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE users_hour (
        slot INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        events INTEGER NOT NULL,
        stressed INTEGER NOT NULL,
        PRIMARY KEY (slot, user_id)
    ) WITHOUT ROWID;

    CREATE TABLE episodes (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        signal_type TEXT NOT NULL,
        severity TEXT NOT NULL,
        threshold INTEGER NOT NULL,
        window_seconds REAL NOT NULL,
        peak_count INTEGER NOT NULL,
        event_count INTEGER NOT NULL,
        opened_at TEXT NOT NULL,
        opened_us INTEGER NOT NULL,
        last_seen_at TEXT NOT NULL,
        closed_at TEXT,
        sample_event_ids TEXT NOT NULL,
        alerted TEXT NOT NULL
    );
    CREATE INDEX episodes_opened ON episodes (opened_us, id);
    CREATE INDEX episodes_user ON episodes (user_id, opened_us, id);
    CREATE INDEX episodes_open ON episodes (opened_us) WHERE closed_at IS NULL;

    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        episode_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload BLOB NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        next_attempt_at REAL NOT NULL,
        attempts TEXT NOT NULL
    );
    CREATE INDEX deliveries_created ON deliveries (created_us, id);
    CREATE INDEX deliveries_status ON deliveries (status, created_us, id);
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at, created_us, id)
        WHERE status = 'pending';

    CREATE TABLE checkpoints (
        name TEXT PRIMARY KEY,
        segment INTEGER NOT NULL,
        byte_offset INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: 10-second rollups written with the events; user minutes, hours and days derived from
    # them once closed, each slot with its seal; rank indexes for the per-slot top users. The
    # rollups of a store written by version 1 are filled in from its events, and its hour and
    # day user rows (exact: version 1 wrote them with the events) are sealed as they are.
    f"""
    CREATE TABLE counts_10s (
        slot INTEGER NOT NULL,
        signal_type TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (slot, signal_type, sentiment)
    ) WITHOUT ROWID;
    CREATE TABLE users_10s (
        slot INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        events INTEGER NOT NULL,
        stressed INTEGER NOT NULL,
        PRIMARY KEY (slot, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE users_minute (
        slot INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        events INTEGER NOT NULL,
        stressed INTEGER NOT NULL,
        PRIMARY KEY (slot, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE user_seals (
        level INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        events INTEGER NOT NULL,
        PRIMARY KEY (level, slot)
    ) WITHOUT ROWID;
    INSERT INTO counts_10s
        SELECT {_TEN_SECONDS}, signal_type, sentiment, COUNT(*) FROM events GROUP BY 1, 2, 3;
    INSERT INTO users_10s
        SELECT {_TEN_SECONDS}, user_id, COUNT(*), SUM(sentiment = 'stressed') FROM events
        GROUP BY 1, 2;
    INSERT INTO user_seals SELECT 3600, slot, SUM(events) FROM users_hour GROUP BY slot;
    INSERT INTO user_seals SELECT 86400, slot, SUM(events) FROM users_day GROUP BY slot;
    CREATE INDEX users_10s_rank ON users_10s (slot, events DESC, user_id, stressed);
    CREATE INDEX users_minute_rank ON users_minute (slot, events DESC, user_id, stressed);
    CREATE INDEX users_hour_rank ON users_hour (slot, events DESC, user_id, stressed);
    CREATE INDEX users_day_rank ON users_day (slot, events DESC, user_id, stressed);
    """,
    # 3: the W3C trace context of each record and of each delivery's webhook (a record's
    # `trace_id` is read back from its `traceparent`). Older rows have none.
    """
    ALTER TABLE events ADD COLUMN traceparent TEXT;
    ALTER TABLE deliveries ADD COLUMN traceparent TEXT;
    """,
)


async def migrate(conn: aiosqlite.Connection) -> int:
    """Bring the schema up to date; returns the version it is at. `conn` is in autocommit mode."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"database schema version {version} is newer than this code knows "
            f"({len(MIGRATIONS)}): upgrade signals, or rebuild the store from the journal"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # executescript would commit any open transaction first, so the BEGIN and the version
        # bump are part of the script: one atomic step per migration.
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                await conn.rollback()
            raise
    return len(MIGRATIONS)


async def use_incremental_vacuum(conn: aiosqlite.Connection, path: str) -> None:
    """Put the file in `auto_vacuum = INCREMENTAL` mode. Call first thing after connecting: on a
    new file the mode is then set before the first page is written, so it costs nothing.

    An existing file in another mode is rewritten (VACUUM: as long as copying the file, and as
    much free space again). If that fails (a full disk), the store opens anyway: pruned pages
    are still reused by new rows, the file just does not shrink; the next open tries again.
    """
    await conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    async with conn.execute("PRAGMA auto_vacuum") as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0] == 2:
        return  # already in that mode, or a new file, which takes it at once
    started = time.perf_counter()
    log.info("store file switching to incremental auto-vacuum (once)", path=path)
    try:
        await conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        log.warning("store file not switched to incremental auto-vacuum", error=str(exc))
        return
    log.info("store file switched", path=path, seconds=round(time.perf_counter() - started, 1))
