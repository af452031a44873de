"""Rows of the PostgreSQL tables to and from the structs that cross the store interface.

A record is kept whole as its JSON (`Record` round-trips exactly through msgspec, as in the
journal), next to the columns queries use. Episode sample ids and alerted severities are text
arrays; delivery attempts are JSON. Times are kept twice: the original string, returned as is,
and epoch microseconds for indexing and merging.

Statements that write several rows take them as arrays (`unnest`): one statement and one round
trip per batch, whatever its size.
"""

from __future__ import annotations

from typing import Any

import msgspec

from signals.events import Record, record_decoder, record_encoder
from signals.instants import to_us
from signals.records.delivery import Attempt
from signals.records.episode import Episode

_attempts = msgspec.json.Decoder(list[Attempt])

# Insert the batch in its order (so `seq` follows the journal), skip event ids already stored,
# and return what was stored: the rollups count those rows and no others.
INSERT_EVENTS = """
INSERT INTO events (event_id, received_us, user_id, signal_type, sentiment, record)
SELECT event_id, received_us, user_id, signal_type, sentiment, record
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
    WITH ORDINALITY AS batch (event_id, received_us, user_id, signal_type, sentiment, record, n)
ORDER BY n
ON CONFLICT (event_id) DO NOTHING
RETURNING received_us, user_id, signal_type, sentiment
"""
SELECT_RECORD = "received_us, seq, record"

EPISODE_COLUMNS = (
    "id, user_id, signal_type, severity, threshold, window_seconds, peak_count, event_count, "
    "opened_at, opened_us, last_seen_at, last_seen_us, closed_at, sample_event_ids, alerted"
)


def _merged(column: str, limit: str = "") -> str:
    """Both arrays' values, each once, in order of first appearance (stored ones first)."""
    return (
        f"ARRAY(SELECT v FROM unnest(e.{column} || excluded.{column}) WITH ORDINALITY AS a(v, n) "
        f"GROUP BY v ORDER BY min(n){limit})"
    )


# Several instances may write the same episode (its state is shared through Redis, see
# `signals.integrity.episodes.redis_state`), and their transactions may commit in either order.
# So a write merges into the stored row instead of replacing it: every field only moves forward
# (counts and last_seen up, opened_at down, severity up, sample ids and alerted severities
# united), and once closed an episode stays closed. Written in order by one writer, that is
# plain replacement.
UPSERT_EPISODE = f"""
INSERT INTO episodes AS e ({EPISODE_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (id) DO UPDATE SET
    severity = CASE WHEN 'critical' IN (e.severity, excluded.severity) THEN 'critical'
                    ELSE excluded.severity END,
    peak_count = GREATEST(e.peak_count, excluded.peak_count),
    event_count = GREATEST(e.event_count, excluded.event_count),
    opened_at = CASE WHEN excluded.opened_us < e.opened_us THEN excluded.opened_at
                     ELSE e.opened_at END,
    opened_us = LEAST(e.opened_us, excluded.opened_us),
    last_seen_at = CASE WHEN excluded.last_seen_us > e.last_seen_us THEN excluded.last_seen_at
                        ELSE e.last_seen_at END,
    last_seen_us = GREATEST(e.last_seen_us, excluded.last_seen_us),
    closed_at = COALESCE(e.closed_at, excluded.closed_at),
    sample_event_ids = {_merged("sample_event_ids", " LIMIT 10")},
    alerted = {_merged("alerted")}
"""

DELIVERY_COLUMNS = (
    "id, episode_id, type, payload, status, created_at, created_us, next_attempt_at, attempts, "
    "traceparent"
)
INSERT_DELIVERY = (
    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json, $10) ON CONFLICT (id) DO NOTHING"
)


def _json(value: object) -> str:
    return record_encoder.encode(value).decode()


def record_columns(records: list[Record]) -> list[list[Any]]:
    """The six arrays `INSERT_EVENTS` takes; raises ValueError for an unreadable received_at."""
    columns: list[list[Any]] = [[], [], [], [], [], []]
    for record in records:
        columns[0].append(record.event_id)
        columns[1].append(to_us(record.received_at))
        columns[2].append(record.user_id)
        columns[3].append(record.signal_type)
        columns[4].append(record.sentiment)
        columns[5].append(_json(record))
    return columns


def record_from_row(row: Any) -> Record:
    """A row selected with `SELECT_RECORD`."""
    return record_decoder.decode(row[2])


def episode_row(episode: Episode) -> tuple[Any, ...]:
    return (
        episode.id,
        episode.user_id,
        episode.signal_type,
        episode.severity,
        episode.threshold,
        episode.window_seconds,
        episode.peak_count,
        episode.event_count,
        episode.opened_at,
        to_us(episode.opened_at),
        episode.last_seen_at,
        to_us(episode.last_seen_at),
        episode.closed_at,
        list(episode.sample_event_ids),
        list(episode.alerted),
    )


def episode_from_row(row: Any) -> Episode:
    """A row selected with `EPISODE_COLUMNS`."""
    return Episode(
        id=row[0],
        user_id=row[1],
        signal_type=row[2],
        severity=row[3],
        threshold=row[4],
        window_seconds=row[5],
        peak_count=row[6],
        event_count=row[7],
        opened_at=row[8],
        last_seen_at=row[10],
        closed_at=row[12],
        sample_event_ids=list(row[13]),
        alerted=list(row[14]),
    )
