"""The consumer's analyzer: windows count each record, episodes follow, alerts are queued.

For a batch of records (journal order): one windows call for the whole batch (one Redis round
trip), then the pure episode transitions per record, then an outbox delivery for each severity an
episode newly reached at or above `alerts.min_severity`. The consumer stores episodes and
deliveries in the same transaction as the records, then calls `committed`, which wakes the
dispatcher. Open episodes are restored from the store at start, so a restart neither loses nor
duplicates an episode that is still running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType

from signals.alerts.delivery import Delivery
from signals.alerts.dispatcher import AlertDispatcher
from signals.alerts.outbox import delivery_for, should_alert
from signals.anomaly.episode import Episode
from signals.anomaly.episodes import EpisodeTracker, Transition
from signals.consumer import Analysis
from signals.events import Record, epoch_seconds, new_event_id
from signals.metrics import Metrics
from signals.settings import Settings
from signals.store.base import Store
from signals.windows.base import WindowEvent, Windows


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
    ) -> None:
        self._settings = settings
        self._store = store
        self._windows = windows
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._clock = clock
        self._min_severity = settings.alerts.min_severity
        self.tracker = EpisodeTracker(settings.windows.seconds, settings.threshold, new_event_id)

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
        return self._outcome(transitions)

    def tick(self, now: float) -> Analysis:
        return self._outcome(self.tracker.sweep(now))

    def committed(self, analysis: Analysis) -> None:
        if analysis.deliveries:
            self._dispatcher.wake()

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
                if self._dispatcher.enabled and should_alert(reached, self._min_severity):
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
    return Detection(
        settings=settings, store=store, windows=windows, dispatcher=dispatcher, metrics=metrics
    )
