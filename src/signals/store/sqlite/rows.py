"""Rows of the SQLite tables to and from the structs that cross the store interface.

JSON-valued fields (sentiment cues, metadata, sample ids, alerted severities, attempts) are
kept as JSON text made by msgspec, which round-trips every value a struct can hold; a missing
metadata object is SQL NULL, an empty one `{}`. Times are kept twice: the original string,
returned as is, and epoch microseconds for indexing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from signals.events import MetadataValue, Record
from signals.instants import to_us
from signals.labels import Severity
from signals.records.delivery import Attempt
from signals.records.episode import Episode
from signals.tracing.traceparent import trace_id_of

_encoder = msgspec.json.Encoder()
_strings = msgspec.json.Decoder(list[str])
_metadata = msgspec.json.Decoder(dict[str, MetadataValue])
_severities = msgspec.json.Decoder(list[Severity])
_attempts = msgspec.json.Decoder(list[Attempt])

EVENT_COLUMNS = (
    "event_id, received_us, received_at, user_id, signal_type, sentiment, sentiment_cues, "
    "request_id, text, timestamp, agent_id, session_id, metadata, traceparent"
)
INSERT_EVENT = f"INSERT OR IGNORE INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 14)})"
# Listings read the keyset (received_us, seq) in front of the record's own columns.
SELECT_RECORD = (
    "received_us, seq, event_id, received_at, user_id, signal_type, sentiment, sentiment_cues, "
    "request_id, text, timestamp, agent_id, session_id, metadata, traceparent"
)

# A record as JSON, built by SQLite: its fields in `Record`'s order, as msgspec writes them
# (JSON-valued columns embedded as JSON, missing values as null). The export streams it as is.
_JSON_COLUMNS = ("sentiment_cues", "metadata")
# `trace_id` is not a column: it is the second field of the kept `traceparent` (`trace_id_of`).
_DERIVED = {"trace_id": "substr(traceparent, 4, 32)"}
RECORD_JSON = (
    "json_object("
    + ", ".join(
        f"'{name}', json({name})"
        if name in _JSON_COLUMNS
        else f"'{name}', {_DERIVED.get(name, name)}"
        for name in Record.__struct_fields__
    )
    + ")"
)

EPISODE_COLUMNS = (
    "id, user_id, signal_type, severity, threshold, window_seconds, peak_count, event_count, "
    "opened_at, opened_us, last_seen_at, closed_at, sample_event_ids, alerted"
)
UPSERT_EPISODE = (
    f"INSERT INTO episodes ({EPISODE_COLUMNS}) VALUES ({', '.join('?' * 14)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in EPISODE_COLUMNS.split(", ")[1:])
)

DELIVERY_COLUMNS = (
    "id, episode_id, type, payload, status, created_at, created_us, next_attempt_at, attempts, "
    "traceparent"
)
INSERT_DELIVERY = (
    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES ({', '.join('?' * 10)}) "
    "ON CONFLICT (id) DO NOTHING"
)


def _json(value: object) -> str:
    return _encoder.encode(value).decode()


def record_row(record: Record, received_us: int) -> tuple[Any, ...]:
    return (
        record.event_id,
        received_us,
        record.received_at,
        record.user_id,
        record.signal_type,
        record.sentiment,
        _json(record.sentiment_cues),
        record.request_id,
        record.text,
        record.timestamp,
        record.agent_id,
        record.session_id,
        None if record.metadata is None else _json(record.metadata),
        record.traceparent,
    )


def record_from_row(row: Any) -> Record:
    """A row selected with `SELECT_RECORD`."""
    return Record(
        event_id=row[2],
        received_at=row[3],
        user_id=row[4],
        signal_type=row[5],
        sentiment=row[6],
        sentiment_cues=_strings.decode(row[7]),
        request_id=row[8],
        text=row[9],
        timestamp=row[10],
        agent_id=row[11],
        session_id=row[12],
        metadata=None if row[13] is None else _metadata.decode(row[13]),
        trace_id=trace_id_of(row[14]),
        traceparent=row[14],
    )


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
        episode.closed_at,
        _json(episode.sample_event_ids),
        _json(episode.alerted),
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
        closed_at=row[11],
        sample_event_ids=_strings.decode(row[12]),
        alerted=_severities.decode(row[13]),
    )
