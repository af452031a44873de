"""The consumer's analyzer: windows count each record, episodes follow, alerts are queued.

For a batch of records (journal order): one windows call for the whole batch (one Redis round
trip), then the pure episode transitions per record, then an outbox delivery for each severity an
episode newly reached at or above `alerts.min_severity`. The consumer stores episodes and
deliveries in the same transaction as the records, then calls `committed`, which wakes the
dispatcher. Open episodes are restored from the store at start, so a restart neither loses nor
duplicates an episode that is still running.

With Redis windows, instances share the episodes too (`signals.integrity.episodes.redis_state`):
a step reads the shared state of the keys it may touch, runs the transitions on it, and writes
it back only if no other instance changed those keys meanwhile, else runs again. So a burst
split across instances is one episode that reaches each severity once, on one instance,
which alone queues that alert. If Redis fails there, the step runs on this instance's own
episodes, as the windows fall back to memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType

import structlog

from signals.events import Record, epoch_seconds, new_event_id
from signals.integrity.alerts.dispatcher import AlertDispatcher
from signals.integrity.alerts.outbox import delivery_for, should_alert
from signals.integrity.consumer import Analysis
from signals.integrity.episodes.redis_state import Key, Shared, SharedEpisodes, Write, adopt
from signals.integrity.episodes.tracker import EpisodeTracker, Transition
from signals.integrity.windows.base import WindowEvent, Windows
from signals.integrity.windows.fallback import REDIS_FAILURES
from signals.metrics import Metrics
from signals.records.delivery import Delivery
from signals.records.episode import Episode
from signals.settings import Settings
from signals.store.base import Store

log = structlog.get_logger(__name__)

# Steps that lost the race for a key to another instance, before running on local state alone.
SHARED_ATTEMPTS = 8


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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
        self.tracker = EpisodeTracker(settings.windows.seconds, settings.threshold, new_event_id)
        self._shared = shared
        self._shared_lost = False

    async def __aenter__(self) -> Detection:
        self.tracker.restore(await self._store.open_episodes())
        await self._dispatcher.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self._dispatcher.aclose()

    async def analyze(self, records: Sequence[Record]) -> Analysis:
        events = [
            WindowEvent(r.user_id, r.signal_type, r.event_id, epoch_seconds(r.received_at))
            for r in records
        ]
        counts = await self._windows.add(events)

        def step() -> list[Transition]:
            transitions: list[Transition] = []
            for record, event, count in zip(records, events, counts, strict=True):
                transitions += self.tracker.observe(
                    record.user_id,
                    record.signal_type,
                    event_id=record.event_id,
                    at=event.at,
                    received_at=record.received_at,
                    count=count,
                )
            return transitions

        return self._outcome(await self._step(await self._keys(records, counts), step))

    async def tick(self, now: float) -> Analysis:
        stale = self.tracker.stale(now)
        return self._outcome(await self._step(stale, lambda: self.tracker.sweep(now)))

    def committed(self, analysis: Analysis) -> None:
        if analysis.deliveries:
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
        """`step`'s transitions (they touch only `keys`), on the shared episodes if any."""
        if self._shared is None or not keys:
            return step()
        before = {key: self.tracker.get(key) for key in keys}
        for _ in range(SHARED_ATTEMPTS):
            try:
                read = await self._shared.load(keys)
            except REDIS_FAILURES as exc:
                self._lost(exc)
                return step()
            transitions = self._adopt(keys, read, before) + step()
            for transition in transitions:
                # Marked before the write, so the shared state records what this step alerts.
                if transition.reached is not None and self._alerts(transition.reached):
                    self.tracker.mark_alerted(transition.episode, transition.reached)
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
        return step()

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

    def _outcome(self, transitions: list[Transition]) -> Analysis:
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
                episode.alerted += [s for s in earlier.alerted if s not in episode.alerted]
            if reached is not None:
                self._metrics.anomalies.labels(reached).inc()
                if self._alerts(reached):
                    self.tracker.mark_alerted(episode, reached)
                    if reached not in episode.alerted:
                        episode.alerted.append(reached)
                    deliveries.append(delivery_for(episode, reached, now, _iso(now)))
            # Later transitions of the same episode in this batch carry its newest state.
            episodes[episode.id] = episode
        return Analysis(list(episodes.values()), deliveries)


async def build_detection(
    settings: Settings, store: Store, windows: Windows, metrics: Metrics
) -> Detection:
    dispatcher = AlertDispatcher(store, settings.alerts, metrics)
    shared: SharedEpisodes | None = None
    client = getattr(windows, "redis", None)  # the Redis windows' client, which they close
    if settings.windows.backend == "redis" and client is not None:
        shared = SharedEpisodes(
            client, settings.redis.key_prefix, settings.windows.seconds,
            settings.windows.ttl_seconds,
        )  # fmt: skip
    return Detection(
        settings=settings, store=store, windows=windows, dispatcher=dispatcher, metrics=metrics,
        shared=shared,
    )  # fmt: skip
