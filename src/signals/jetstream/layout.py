"""Where the journal lives in JetStream: the stream, its subjects, its consumers and their leases.

    stream     `journal.stream` (default "signals"): file storage, `journal.replicas` copies,
               limits retention (`journal.retention_days`; 0 keeps everything), duplicate
               window `journal.dedupe_window_seconds`, the partition count in its metadata
    subjects   <stream>.events.<p>, p = crc32(user_id) mod `journal.partitions`: all of one
               user's events are in one partition, in the order the stream stored them
    consumers  durable pull consumers with explicit acks, one per (group, partition), each
               filtered to its partition's subject. Groups: "store" when the store is shared
               (PostgreSQL), "store-<instance>" for an instance's own SQLite file (it needs every
               event), and "router" (one forwarding for the whole deployment)
    leases     the KV bucket <stream>_leases: which instance reads which partition of a group

The partition count is fixed for the stream's life: a user moved to another partition could have
newer events read before older ones, so a stream made with another count is refused.
"""

from __future__ import annotations

import zlib
from typing import Any

from nats.js import api

from signals.settings import JournalSettings

PARTITIONS_KEY = "signals_partitions"
# A partition reader pulls at most this many messages at once; the consumer lets twice that be
# pending, so a redelivered batch never blocks the next one of its own reader.
FETCH_MAX = 500
SECONDS_PER_DAY = 86_400.0


def partition_of(user_id: str, partitions: int) -> int:
    """Stable across processes and versions (Python's `hash` is salted per process)."""
    return zlib.crc32(user_id.encode()) % partitions


def subject(stream: str, partition: int) -> str:
    return f"{stream}.events.{partition}"


def consumer_name(group: str, partition: int) -> str:
    return f"{group}-{partition}"


def leases_bucket(stream: str) -> str:
    return f"{stream}_leases"


def store_group(shared_store: bool, instance: str) -> str:
    """A shared store is fed once for all instances; a private one needs every event itself."""
    return "store" if shared_store else f"store-{instance}"


def _max_age(settings: JournalSettings) -> float:
    return settings.retention_days * SECONDS_PER_DAY


def stream_config(settings: JournalSettings) -> api.StreamConfig:
    max_age = _max_age(settings)
    return api.StreamConfig(
        name=settings.stream,
        description="signals journal: accepted events, partitioned by user",
        subjects=[f"{settings.stream}.events.*"],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        num_replicas=settings.replicas,
        max_age=max_age,
        duplicate_window=_duplicate_window(settings),
        discard=api.DiscardPolicy.OLD,
        metadata={PARTITIONS_KEY: str(settings.partitions)},
    )


def _duplicate_window(settings: JournalSettings) -> float:
    # The server caps the window at max_age; asking for the capped value keeps the comparison
    # with an existing stream exact.
    max_age = _max_age(settings)
    window = settings.dedupe_window_seconds
    return min(window, max_age) if max_age else window


def mismatches(settings: JournalSettings, found: api.StreamConfig) -> list[str]:
    """Each setting of the existing stream that differs from ours: `name: ours X, stream Y`."""
    wanted = stream_config(settings)
    found_meta = found.metadata or {}
    pairs: list[tuple[str, Any, Any]] = [
        ("subjects", wanted.subjects, found.subjects),
        ("replicas", wanted.num_replicas, found.num_replicas),
        ("storage", _name(wanted.storage), _name(found.storage)),
        ("retention", _name(wanted.retention), _name(found.retention)),
        ("max_age seconds", wanted.max_age, found.max_age or 0.0),
        ("duplicate_window seconds", wanted.duplicate_window, found.duplicate_window),
        ("partitions", str(settings.partitions), found_meta.get(PARTITIONS_KEY, "(none)")),
    ]
    return [
        f"{name}: ours {ours}, the stream's {theirs}"
        for name, ours, theirs in pairs
        if not _same(ours, theirs)
    ]


def _name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) or isinstance(theirs, float):
        return abs(float(ours or 0) - float(theirs or 0)) < 1e-3
    return bool(ours == theirs)


def consumer_config(settings: JournalSettings, group: str, partition: int) -> api.ConsumerConfig:
    name = consumer_name(group, partition)
    return api.ConsumerConfig(
        name=name,
        durable_name=name,
        description=f"signals {group} reader of partition {partition}",
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_seconds,
        max_deliver=-1,
        max_ack_pending=2 * FETCH_MAX,
        filter_subject=subject(settings.stream, partition),
    )
