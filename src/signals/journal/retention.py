"""Which closed segments may be deleted: older than `retention_days` and needed by no consumer.

Consumers (the store, the router forwarder) register a getter for their current position. A
segment is deletable only when every consumer's position is in a later segment, and only the
oldest segments go (deletion stops at the first segment that must stay), so the journal never
has a hole. `retention_days = 0` keeps everything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from signals.journal.position import JournalPosition
from signals.journal.segments import fsync_directory, list_segments

log = structlog.get_logger(__name__)

DAY_SECONDS = 86_400.0
PositionGetter = Callable[[], JournalPosition]


class Retention:
    def __init__(self, days: float) -> None:
        self.days = days
        self._consumers: dict[str, PositionGetter] = {}

    def register_consumer(self, name: str, position: PositionGetter) -> None:
        if name in self._consumers:
            raise ValueError(f"journal consumer {name!r} is already registered")
        self._consumers[name] = position

    def unregister_consumer(self, name: str) -> None:
        self._consumers.pop(name, None)

    def needed_from(self) -> int | None:
        """The oldest segment number a consumer still needs; None when no consumer is known.

        A getter that fails keeps everything: losing data is worse than keeping it a while.
        """
        oldest: int | None = None
        for name, position in self._consumers.items():
            try:
                segment = position().segment
            except Exception:
                log.exception("journal.consumer_position_failed", consumer=name)
                return 0
            oldest = segment if oldest is None else min(oldest, segment)
        return oldest


def prune_segments(directory: Path, days: float, keep_from: int, now: float) -> list[Path]:
    """Delete the oldest segments numbered below `keep_from` that were last modified more than
    `days` before `now`; return the deleted paths. Blocks: run it in a thread."""
    if days <= 0:
        return []
    cutoff = now - days * DAY_SECONDS
    removed = []
    for segment in list_segments(directory):
        if segment.number >= keep_from:
            break
        try:
            if segment.path.stat().st_mtime >= cutoff:
                break
            segment.path.unlink()
        except FileNotFoundError:
            continue
        removed.append(segment.path)
    if removed:
        fsync_directory(directory)
    return removed
