"""The PostgreSQL schema as an ordered list of migrations, tracked in the `signals_schema` table.

Migration N (1-based) brings a database from version N-1 to N. `migrate` runs every missing one
in a single transaction that first takes a transaction-scoped advisory lock, so instances that
start at the same moment queue up: the first one migrates, the others find the schema current
and change nothing. PostgreSQL's DDL is transactional, so a failure leaves the database exactly
as it was. A database newer than this code is refused rather than guessed at.

Choices (see `PostgresStore` for the queries they serve):
- text keys are `COLLATE "C"`: byte order, which is code point order for UTF-8, so pages, ties and
  top users sort as the SQLite store sorts them, whatever the database's default collation;
- `events.record` is the whole record as JSON text, as the journal holds it (`record::json`
  reads it in SQL). The columns beside it are the ones queries filter and count on. JSON escapes
  U+0000, which PostgreSQL's `text` cannot hold and the event schema allows in `text`,
  `agent_id` and `session_id`. Text, not `json`: validating every record on insert took a third
  of the insert's time, for documents msgspec wrote;
- `seq` (an identity) is the insertion order that breaks ties on received_us;
- `episodes.last_seen_us` lets several instances' writes of one episode merge (see
  `postgres_rows.UPSERT_EPISODE`);
- rollup tables are keyed (slot, ...) like SQLite's: a range is one index range, and a batch's
  increments land in the few rows of the current slots; user rollups have the same rank index
  (slot, events DESC, user_id) and the same seals (`signals.store.cover`).

Space: rows that retention deletes are vacuumed by PostgreSQL's autovacuum and their space is
reused by new rows; the files do not shrink (that takes VACUUM FULL, which locks the table).
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from signals.errors import SchemaTooNew

# What the store's helpers run statements on: a connection, or one borrowed from the pool.
PgConnection = asyncpg.Connection | PoolConnectionProxy

# Any fixed 64-bit number: the advisory lock every `signals` instance takes to migrate.
MIGRATION_LOCK = 0x7369676E616C73  # "signals"

# The start (epoch seconds) of the 10-second slot of `received_us`, rounding down before 1970 too.
_TEN_SECONDS = "(received_us - ((received_us % 10000000) + 10000000) % 10000000) / 1000000"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id text COLLATE "C" NOT NULL UNIQUE,
        received_us bigint NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        signal_type text COLLATE "C" NOT NULL,
        sentiment text COLLATE "C" NOT NULL,
        record text NOT NULL
    );
    CREATE INDEX events_time ON events (received_us, seq)
        INCLUDE (user_id, signal_type, sentiment);
    CREATE INDEX events_user ON events (user_id, received_us, seq);
    CREATE INDEX events_signal_type ON events (signal_type, received_us, seq);

    CREATE TABLE counts_hour (
        slot bigint NOT NULL,
        signal_type text COLLATE "C" NOT NULL,
        sentiment text COLLATE "C" NOT NULL,
        events bigint NOT NULL,
        PRIMARY KEY (slot, signal_type, sentiment)
    );
    CREATE TABLE counts_quarter (LIKE counts_hour INCLUDING ALL);
    CREATE TABLE counts_minute (LIKE counts_hour INCLUDING ALL);
    CREATE TABLE users_day (
        slot bigint NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        events bigint NOT NULL,
        stressed bigint NOT NULL,
        PRIMARY KEY (slot, user_id)
    );
    CREATE TABLE users_hour (LIKE users_day INCLUDING ALL);

    CREATE TABLE episodes (
        id text COLLATE "C" PRIMARY KEY,
        user_id text COLLATE "C" NOT NULL,
        signal_type text COLLATE "C" NOT NULL,
        severity text NOT NULL,
        threshold bigint NOT NULL,
        window_seconds double precision NOT NULL,
        peak_count bigint NOT NULL,
        event_count bigint NOT NULL,
        opened_at text NOT NULL,
        opened_us bigint NOT NULL,
        last_seen_at text NOT NULL,
        last_seen_us bigint NOT NULL,
        closed_at text,
        sample_event_ids text[] NOT NULL,
        alerted text[] NOT NULL
    );
    CREATE INDEX episodes_opened ON episodes (opened_us, id);
    CREATE INDEX episodes_user ON episodes (user_id, opened_us, id);
    CREATE INDEX episodes_open ON episodes (opened_us, id) WHERE closed_at IS NULL;

    CREATE TABLE deliveries (
        id text COLLATE "C" PRIMARY KEY,
        episode_id text COLLATE "C" NOT NULL,
        type text NOT NULL,
        payload bytea NOT NULL,
        status text NOT NULL,
        created_at text NOT NULL,
        created_us bigint NOT NULL,
        next_attempt_at double precision NOT NULL,
        attempts json NOT NULL
    );
    CREATE INDEX deliveries_created ON deliveries (created_us, id);
    CREATE INDEX deliveries_status ON deliveries (status, created_us, id);
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at, created_us, id)
        WHERE status = 'pending';

    CREATE TABLE checkpoints (
        name text COLLATE "C" PRIMARY KEY,
        segment bigint NOT NULL,
        byte_offset bigint NOT NULL
    );
    """,
    # 2: as SQLite's migration 2 (`signals.store.sqlite.schema`): 10-second rollups written
    # with the events, derived user minutes, seals, rank indexes; a version 1 store's rollups
    # filled in from its events, its hour and day user rows sealed as they are.
    f"""
    CREATE TABLE counts_10s (LIKE counts_hour INCLUDING ALL);
    CREATE TABLE users_10s (LIKE users_day INCLUDING ALL);
    CREATE TABLE users_minute (LIKE users_day INCLUDING ALL);
    CREATE TABLE user_seals (
        level integer NOT NULL,
        slot bigint NOT NULL,
        events bigint NOT NULL,
        PRIMARY KEY (level, slot)
    );
    INSERT INTO counts_10s
        SELECT {_TEN_SECONDS}, signal_type, sentiment, COUNT(*) FROM events GROUP BY 1, 2, 3;
    INSERT INTO users_10s
        SELECT {_TEN_SECONDS}, user_id, COUNT(*), COUNT(*) FILTER (WHERE sentiment = 'stressed')
        FROM events GROUP BY 1, 2;
    INSERT INTO user_seals SELECT 3600, slot, SUM(events) FROM users_hour GROUP BY slot;
    INSERT INTO user_seals SELECT 86400, slot, SUM(events) FROM users_day GROUP BY slot;
    CREATE INDEX users_10s_rank ON users_10s (slot, events DESC, user_id) INCLUDE (stressed);
    CREATE INDEX users_minute_rank ON users_minute (slot, events DESC, user_id)
        INCLUDE (stressed);
    CREATE INDEX users_hour_rank ON users_hour (slot, events DESC, user_id) INCLUDE (stressed);
    CREATE INDEX users_day_rank ON users_day (slot, events DESC, user_id) INCLUDE (stressed);
    """,
    # 3: the W3C trace context of each delivery's webhook (records keep theirs in their JSON).
    """
    ALTER TABLE deliveries ADD COLUMN traceparent text;
    """,
)


async def schema_version(conn: PgConnection) -> int:
    """The version recorded in the database; 0 for one `signals` never migrated."""
    exists = await conn.fetchval("SELECT to_regclass('signals_schema') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT version FROM signals_schema")
    return int(version or 0)


async def migrate(conn: PgConnection) -> int:
    """Bring the schema up to date; returns the version it is at."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        version = await schema_version(conn)
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"database schema version {version} is newer than this code knows "
                f"({len(MIGRATIONS)}): upgrade signals, or rebuild the store from the journal"
            )
        if version == len(MIGRATIONS):
            return version
        if version == 0:
            await conn.execute("CREATE TABLE signals_schema (version integer NOT NULL)")
            await conn.execute("INSERT INTO signals_schema (version) VALUES (0)")
        for script in MIGRATIONS[version:]:
            await conn.execute(script)
        await conn.execute("UPDATE signals_schema SET version = $1", len(MIGRATIONS))
    return len(MIGRATIONS)
