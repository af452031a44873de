"""Episode transitions per (user_id, signal_type) key (docs/semantics.md). Pure: no I/O, no
clock reads.

- The first anomalous event of a key opens an episode: severity from its count, peak_count =
  count, event_count = 1, sample_event_ids = [its id], opened_at = last_seen_at = received_at.
- Later anomalous events update it: peak_count is the max, last_seen_at moves, event_count + 1,
  up to `MAX_SAMPLES` sample ids, and the severity escalates warning -> critical, never back.
- The key's first non-anomalous event closes it, at that event's received_at (one older than
  the episode's last anomalous event is late, not first, and changes nothing).
- `sweep(now)` closes episodes whose last_seen_at is a full window old, at last_seen_at + window
  (when the burst ended, not when it was noticed); `observe` does the same first for its key, so
  a missed sweep cannot leave a stale episode to be extended by an unrelated later burst.

Every `Transition` carries a copy of the episode and `reached`: the severity the episode newly
reached (an open at warning: "warning"; an open at critical or an escalation: "critical"), so
alerting sends one webhook per episode and severity. Once one is queued, `mark_alerted` records
it here, so later copies (which the store upserts by id) keep `alerted`.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from msgspec import Struct

from signals.events import parse_instant
from signals.instants import from_us, micros, us_of
from signals.integrity.episodes.severity import severity_for
from signals.labels import SEVERITY_RANK, Severity
from signals.records.episode import Episode

MAX_SAMPLES = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

TransitionKind = Literal["opened", "updated", "escalated", "closed"]


class Transition(Struct, frozen=True, kw_only=True):
    kind: TransitionKind
    episode: Episode  # a copy, unchanged by later transitions
    reached: Severity | None = None
    trace: str | None = None  # the traceparent of the record that caused it (set by detection)


def _plus_seconds(instant: str, seconds: float) -> str:
    # integer microseconds, so "a full window old" is decided exactly at the boundary
    return from_us(us_of(parse_instant(instant)) + micros(seconds))


def _copy(episode: Episode) -> Episode:
    return msgspec.structs.replace(
        episode, sample_event_ids=list(episode.sample_event_ids), alerted=list(episode.alerted)
    )


class _Open:
    __slots__ = ("episode", "last_seen")

    def __init__(self, episode: Episode, last_seen: int) -> None:
        self.episode = episode
        self.last_seen = last_seen  # microseconds: the last anomalous event's time


class EpisodeTracker:
    """The open episodes, by key, oldest last_seen first; see the module docstring."""

    def __init__(
        self,
        window_seconds: float,
        threshold_for: Callable[[str], int],
        new_id: Callable[[], str],
    ) -> None:
        self._window_seconds = window_seconds
        self._window = micros(window_seconds)
        self._threshold_for = threshold_for
        self._new_id = new_id
        self._open: OrderedDict[tuple[str, str], _Open] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def open_episodes(self) -> list[Episode]:
        return [_copy(entry.episode) for entry in self._open.values()]

    def restore(self, episodes: Iterable[Episode]) -> None:
        """Take over open episodes (as the store kept them) at start; closed ones are skipped."""
        entries = [
            _Open(_copy(episode), (parse_instant(episode.last_seen_at) - _EPOCH) // _MICROSECOND)
            for episode in episodes
            if episode.closed_at is None
        ]
        for entry in sorted(entries, key=lambda entry: entry.last_seen):
            key = (entry.episode.user_id, entry.episode.signal_type)
            self._open.pop(key, None)
            self._open[key] = entry

    # Sharing: instances that share Redis windows keep each key's episode in Redis (see
    # `signals.integrity.episodes.redis_state`); these three let that state replace this
    # tracker's, key by key.

    def get(self, key: tuple[str, str]) -> Episode | None:
        """A copy of the open episode of `key` (user_id, signal_type), or None."""
        entry = self._open.get(key)
        return None if entry is None else _copy(entry.episode)

    def put(self, key: tuple[str, str], episode: Episode | None) -> None:
        """Make `episode` (a copy is kept) the open episode of `key`; None or a closed one
        leaves the key without one."""
        self._open.pop(key, None)
        if episode is None or episode.closed_at is not None:
            return
        last_seen = (parse_instant(episode.last_seen_at) - _EPOCH) // _MICROSECOND
        entry = _Open(_copy(episode), last_seen)
        tail = next(reversed(self._open.values()), None)
        self._open[key] = entry
        if tail is not None and tail.last_seen > entry.last_seen:
            # `sweep` relies on oldest-last_seen-first order; an older state put last breaks it.
            self._open = OrderedDict(sorted(self._open.items(), key=lambda item: item[1].last_seen))

    def stale(self, now: float) -> list[tuple[str, str]]:
        """The keys whose episode `sweep(now)` would close."""
        horizon = micros(now) - self._window
        return list(
            itertools.takewhile(lambda key: self._open[key].last_seen <= horizon, self._open)
        )

    def observe(
        self,
        user_id: str,
        signal_type: str,
        *,
        event_id: str,
        at: float,
        received_at: str,
        count: int,
    ) -> list[Transition]:
        """The transitions one event causes, given its key's window count after adding it."""
        key = (user_id, signal_type)
        now = micros(at)
        transitions = []
        entry = self._open.get(key)
        if entry is not None and now - entry.last_seen >= self._window:
            transitions.append(self._close_stale(key, entry))
            entry = None
        threshold = self._threshold_for(signal_type)
        severity = severity_for(count, threshold)
        if severity is None:
            # A quiet event older than the episode's last anomalous one says nothing about the
            # burst's end: it was counted before that one (on another instance sharing the
            # windows, or journaled a moment out of order) and only reaches the tracker late.
            if entry is not None and now >= entry.last_seen:
                del self._open[key]
                entry.episode.closed_at = received_at
                transitions.append(Transition(kind="closed", episode=_copy(entry.episode)))
            return transitions
        if entry is None:
            episode = Episode(
                id=self._new_id(),
                user_id=user_id,
                signal_type=signal_type,
                severity=severity,
                threshold=threshold,
                window_seconds=self._window_seconds,
                peak_count=count,
                event_count=1,
                opened_at=received_at,
                last_seen_at=received_at,
                sample_event_ids=[event_id],
            )
            self._open[key] = _Open(episode, now)
            transitions.append(Transition(kind="opened", episode=_copy(episode), reached=severity))
            return transitions
        transitions.append(
            self._update(
                key,
                entry,
                event_id=event_id,
                now=now,
                received_at=received_at,
                count=count,
                severity=severity,
            )
        )
        return transitions

    def sweep(self, now: float) -> list[Transition]:
        """Close the episodes whose last anomalous event is at least a window before `now`."""
        horizon = micros(now) - self._window
        closed = []
        while self._open:
            key, entry = next(iter(self._open.items()))
            if entry.last_seen > horizon:
                break
            closed.append(self._close_stale(key, entry))
        return closed

    def mark_alerted(self, episode: Episode, severity: Severity) -> bool:
        """Record that `severity` was alerted for `episode`; False when it is no longer open."""
        entry = self._open.get((episode.user_id, episode.signal_type))
        if entry is None or entry.episode.id != episode.id:
            return False
        if severity not in entry.episode.alerted:
            entry.episode.alerted.append(severity)
        return True

    def _update(
        self,
        key: tuple[str, str],
        entry: _Open,
        *,
        event_id: str,
        now: int,
        received_at: str,
        count: int,
        severity: Severity,
    ) -> Transition:
        episode = entry.episode
        escalated = SEVERITY_RANK[severity] > SEVERITY_RANK[episode.severity]
        if escalated:
            episode.severity = severity
        episode.peak_count = max(episode.peak_count, count)
        episode.event_count += 1
        if now >= entry.last_seen:
            entry.last_seen = now
            episode.last_seen_at = received_at
            self._open.move_to_end(key)
        if len(episode.sample_event_ids) < MAX_SAMPLES:
            episode.sample_event_ids.append(event_id)
        if escalated:
            return Transition(kind="escalated", episode=_copy(episode), reached=severity)
        return Transition(kind="updated", episode=_copy(episode))

    def _close_stale(self, key: tuple[str, str], entry: _Open) -> Transition:
        del self._open[key]
        episode = entry.episode
        episode.closed_at = _plus_seconds(episode.last_seen_at, self._window_seconds)
        return Transition(kind="closed", episode=_copy(episode))
