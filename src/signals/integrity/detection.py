"""Detection, the integrity stage: windows count each record, episodes follow, alerts are queued.

For a batch of records (journal order): one windows call for the whole batch (one Redis round
trip), then the pure episode transitions per record, then an outbox delivery for each severity an
episode newly reached at or above `alerts.min_severity`, in the trace of the record that made the
episode reach it (its webhook carries that `traceparent`), and one for each close of an episode
that alerted (with `alerts.send_resolved`). The consumer stores episodes and
deliveries in the same transaction as the records, then calls `committed`, which wakes the
dispatcher. Open episodes are restored from the store at start (`restore`), so a restart neither
loses nor duplicates an episode that is still running.

With Redis windows, instances share the episodes too (`signals.integrity.episodes.redis_state`):
a step reads the shared state of the keys it may touch, runs the transitions on it, and writes
it back only if no other instance changed those keys meanwhile, else runs again. So a burst
split across instances is one episode that reaches each severity once, on one instance,
which alone queues that alert. A close is such a transition too: the instance whose step closes
the shared episode queues its `anomaly.resolved`; the others find its tombstone and drop their
copy without a transition. If Redis fails there, the step runs on this instance's own episodes,
as the windows fall back to memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec
import structlog
from msgspec.structs import replace

from signals.events import Record, epoch_seconds, new_event_id
from signals.instants import rfc3339
from signals.integrity.alerts.dispatcher import AlertDispatcher
from signals.integrity.alerts.outbox import delivery_for, resolved_for, should_alert, should_resolve
from signals.integrity.episodes.redis_state import Key, Shared, SharedEpisodes, Write, adopt
from signals.integrity.episodes.tracker import EpisodeTracker, Transition
from signals.integrity.windows.base import WindowEvent, Windows
from signals.metrics import Metrics
from signals.records.delivery import Delivery
from signals.records.episode import Episode
from signals.redis_client import REDIS_FAILURES
from signals.settings import Settings
from signals.store.base import Store

log = structlog.get_logger(__name__)

# Steps that lost the race for a key to another instance, before running on local state alone.
SHARED_ATTEMPTS = 8


class Detected(msgspec.Struct):
    """What detection adds to a batch: episode changes and new outbox deliveries."""

    episodes: list[Episode]
    deliveries: list[Delivery]


class Detection:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        windows: Windows,
        dispatcher: AlertDispatcher,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        shared: SharedEpisodes | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._windows = windows
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._clock = clock
        self._min_severity = settings.alerts.min_severity
        self._send_resolved = settings.alerts.send_resolved
        self.tracker = EpisodeTracker(settings.windows.seconds, settings.threshold, new_event_id)
        self._shared = shared
        self._shared_lost = False

    async def restore(self) -> None:
        """Take up the episodes still open in the store (a restart continues them)."""
        self.tracker.restore(await self._store.open_episodes())

    async def detect(self, records: Sequence[Record]) -> Detected:
        events = [
            WindowEvent(r.user_id, r.signal_type, r.event_id, epoch_seconds(r.received_at))
            for r in records
        ]
        counts = await self._windows.add(events)

        def step() -> list[Transition]:
            transitions: list[Transition] = []
            for record, event, count in zip(records, events, counts, strict=True):
                caused = self.tracker.observe(
                    record.user_id,
                    record.signal_type,
                    event_id=record.event_id,
                    at=event.at,
                    received_at=record.received_at,
                    count=count,
                )
                if caused and record.traceparent:
                    caused = [replace(t, trace=record.traceparent) for t in caused]
                transitions += caused
            return transitions

        return self._outcome(await self._step(await self._keys(records, counts), step))

    async def tick(self, now: float) -> Detected:
        """Time passing without events: close the episodes whose window has gone by."""
        stale = self.tracker.stale(now)
        return self._outcome(await self._step(stale, lambda: self.tracker.sweep(now)))

    def committed(self, detected: Detected) -> None:
        """`detected` is stored: wake the dispatcher for its deliveries."""
        if detected.deliveries:
            self._dispatcher.wake()

    async def _keys(self, records: Sequence[Record], counts: list[int]) -> list[Key]:
        """The keys whose shared episode a step over `records` may touch: counted above their
        threshold, held here, or open on another instance. Others cannot change."""
        if self._shared is None:
            return []
        try:
            open_anywhere = await self._shared.open_keys()
        except REDIS_FAILURES as exc:
            self._lost(exc)
            return []
        threshold = self._settings.threshold
        keys: dict[Key, None] = {}
        for record, count in zip(records, counts, strict=True):
            key = (record.user_id, record.signal_type)
            if key not in keys and (
                count > threshold(record.signal_type)
                or self.tracker.get(key) is not None
                or (open_anywhere and self._shared.key(key) in open_anywhere)
            ):
                keys[key] = None
        return list(keys)

    async def _step(
        self, keys: list[Key], step: Callable[[], list[Transition]]
    ) -> list[Transition]:
        """`step`'s transitions (they touch only `keys`), on the shared episodes if any.

        Alerts are marked on the episodes as each step runs, so the shared state written after
        it records what this step alerts."""

        def run() -> list[Transition]:
            transitions = step()
            self._mark_alerts(transitions)
            return transitions

        if self._shared is None or not keys:
            return run()
        before = {key: self.tracker.get(key) for key in keys}
        for _ in range(SHARED_ATTEMPTS):
            try:
                read = await self._shared.load(keys)
            except REDIS_FAILURES as exc:
                self._lost(exc)
                return run()
            transitions = self._adopt(keys, read, before) + run()
            try:
                saved = await self._shared.save(self._writes(keys, read, transitions))
            except REDIS_FAILURES as exc:
                self._lost(exc)
                return transitions
            if saved:
                self._shared_lost = False
                return transitions
            for key, episode in before.items():  # another instance was first: run again
                self.tracker.put(key, episode)
        log.warning("shared episodes stayed contended; this step used local state", keys=len(keys))
        return run()

    def _adopt(
        self, keys: list[Key], read: list[Shared], before: dict[Key, Episode | None]
    ) -> list[Transition]:
        """Take over the shared state; a local episode that another one replaced is closed."""
        closed: list[Transition] = []
        for key, shared in zip(keys, read, strict=True):
            mine = before[key]
            episode = adopt(mine, shared)
            if mine is not None and episode is not None and episode.id != mine.id:
                # Opened here while Redis was lost, as another instance opened the shared one.
                mine.closed_at = mine.last_seen_at
                closed.append(Transition(kind="closed", episode=mine))
            self.tracker.put(key, episode)
        return closed

    def _writes(
        self, keys: list[Key], read: list[Shared], transitions: list[Transition]
    ) -> list[Write]:
        """The new state of every key a transition touched: its open episode, or a tombstone."""
        ended: dict[Key, Episode] = {}
        for transition in transitions:
            if transition.kind == "closed":
                ended[(transition.episode.user_id, transition.episode.signal_type)] = (
                    transition.episode
                )
        touched = {(t.episode.user_id, t.episode.signal_type) for t in transitions}
        writes = []
        for key, shared in zip(keys, read, strict=True):
            if key in touched:
                episode = self.tracker.get(key) or ended[key]
                writes.append(Write(key, shared, episode))
        return writes

    def _lost(self, exc: Exception) -> None:
        if not self._shared_lost:
            self._shared_lost = True
            log.warning(
                "shared episodes unavailable; using this instance's own until redis answers",
                error=f"{type(exc).__name__}: {exc}",
            )

    def _alerts(self, reached: str) -> bool:
        return self._dispatcher.enabled and should_alert(reached, self._min_severity)

    def _mark_alerts(self, transitions: list[Transition]) -> None:
        """The one place an alerted severity is recorded: on the open episode and its copy."""
        for transition in transitions:
            reached = transition.reached
            if reached is not None and self._alerts(reached):
                self.tracker.mark_alerted(transition.episode, reached)
                if reached not in transition.episode.alerted:
                    transition.episode.alerted.append(reached)

    def _outcome(self, transitions: list[Transition]) -> Detected:
        episodes: dict[str, Episode] = {}
        deliveries: list[Delivery] = []
        now = self._clock()
        for transition in transitions:
            episode = transition.episode
            reached = transition.reached
            # The copies of one batch were all taken before any of its alerts was marked, so a
            # later copy must inherit what an earlier one alerted, or the stored episode loses it.
            earlier = episodes.get(episode.id)
            if earlier is not None:
                later = [s for s in episode.alerted if s not in earlier.alerted]
                episode.alerted = [*earlier.alerted, *later]
            if reached is not None:
                self._metrics.anomalies.labels(reached).inc()
                if self._alerts(reached):
                    deliveries.append(
                        delivery_for(episode, reached, now, rfc3339(now), transition.trace)
                    )
            if (
                transition.kind == "closed"
                and self._dispatcher.enabled
                and should_resolve(episode, self._send_resolved)
            ):
                deliveries.append(resolved_for(episode, now, rfc3339(now), transition.trace))
            # Later transitions of the same episode in this batch carry its newest state.
            episodes[episode.id] = episode
        return Detected(list(episodes.values()), deliveries)
