"""Episode transitions (docs/semantics.md) as tables: counts in, transitions and episodes out."""

from __future__ import annotations

import itertools

import pytest

from signals.events import epoch_seconds
from signals.integrity.episodes.tracker import MAX_SAMPLES, EpisodeTracker, Transition
from signals.records.episode import Episode

THRESHOLDS = {"default": 10, "login": 3}
OFFSET_MIDNIGHT = "2026-01-01T02:00:00+02:00"  # a stored time need not be in Z form


def tracker() -> EpisodeTracker:
    ids = (f"ep-{n}" for n in itertools.count(1))
    return EpisodeTracker(
        5.0, lambda kind: THRESHOLDS.get(kind, THRESHOLDS["default"]), lambda: next(ids)
    )


def second(n: float) -> str:
    """2026-01-01T00:00:00.123456Z plus `n` seconds (to the microsecond), as a received_at."""
    whole, micros = divmod(round(n * 1_000_000) + 123_456, 1_000_000)
    return f"2026-01-01T00:{whole // 60:02d}:{whole % 60:02d}.{micros:06d}Z"


def observe(
    episodes: EpisodeTracker, count: int, at: str, *, user: str = "u", kind: str = "message",
    event_id: str | None = None,
) -> list[Transition]:  # fmt: skip
    event = event_id or f"e@{at}"
    return episodes.observe(
        user, kind, event_id=event, at=epoch_seconds(at), received_at=at, count=count
    )


def summary(transitions: list[Transition]) -> list[tuple[str, str, str | None]]:
    return [(t.kind, t.episode.severity, t.reached) for t in transitions]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([1, 5, 10], [[], [], []]),
        (
            [10, 11, 12, 15, 16, 9],
            [
                [],
                [("opened", "warning", "warning")],
                [("updated", "warning", None)],
                [("escalated", "critical", "critical")],
                [("updated", "critical", None)],
                [("closed", "critical", None)],
            ],
        ),
        (
            [15, 11, 12, 10],
            [
                [("opened", "critical", "critical")],
                [("updated", "critical", None)],  # never back to warning
                [("updated", "critical", None)],
                [("closed", "critical", None)],
            ],
        ),
        (
            [11, 10, 11],
            [
                [("opened", "warning", "warning")],
                [("closed", "warning", None)],
                [("opened", "warning", "warning")],
            ],
        ),
    ],
)
def test_counts_drive_the_transitions(
    counts: list[int], expected: list[list[tuple[str, str, str | None]]]
) -> None:
    episodes = tracker()
    got = [summary(observe(episodes, count, second(i * 0.1))) for i, count in enumerate(counts)]
    assert got == expected


def test_an_episode_records_its_burst() -> None:
    episodes = tracker()
    counts = [11, 14, 12, 16, 13, 9]
    transitions = [observe(episodes, c, second(i), event_id=f"e{i}") for i, c in enumerate(counts)]
    closed = transitions[-1][0].episode
    assert closed == Episode(
        id="ep-1", user_id="u", signal_type="message", severity="critical", threshold=10,
        window_seconds=5.0, peak_count=16, event_count=5, opened_at=second(0),
        last_seen_at=second(4), closed_at=second(5),
        sample_event_ids=["e0", "e1", "e2", "e3", "e4"],
    )  # fmt: skip
    opened = transitions[0][0].episode  # each transition holds its own copy
    assert (opened.event_count, opened.peak_count, opened.closed_at) == (1, 11, None)
    assert opened.sample_event_ids == ["e0"]


def test_sample_ids_stop_at_ten_but_events_are_all_counted() -> None:
    episodes = tracker()
    for i in range(25):
        last = observe(episodes, 11 + i, second(i * 0.01), event_id=f"e{i}")
    assert last[0].episode.sample_event_ids == [f"e{i}" for i in range(MAX_SAMPLES)]
    assert (last[0].episode.event_count, last[0].episode.peak_count) == (25, 35)


def test_the_threshold_is_the_signal_types() -> None:
    episodes = tracker()
    assert observe(episodes, 3, second(0), kind="login") == []
    opened = observe(episodes, 4, second(0.1), kind="login")
    assert summary(opened) == [("opened", "warning", "warning")]
    assert opened[0].episode.threshold == 3
    assert summary(observe(episodes, 5, second(0.2), kind="login")) == [
        ("escalated", "critical", "critical")
    ]


def test_keys_have_their_own_episodes() -> None:
    episodes = tracker()
    a = observe(episodes, 11, second(0), user="a")
    b = observe(episodes, 16, second(0), user="b")
    c = observe(episodes, 11, second(0), user="a", kind="login")
    assert [t[0].episode.id for t in (a, b, c)] == ["ep-1", "ep-2", "ep-3"]
    assert summary(observe(episodes, 1, second(1), user="a")) == [("closed", "warning", None)]
    assert len(episodes) == 2


@pytest.mark.parametrize(
    ("now", "closes"), [(4.999999, False), (5.0, True), (60.0, True)]
)  # fmt: skip
def test_sweep_closes_a_full_window_after_the_last_anomalous_event(
    now: float, closes: bool
) -> None:
    episodes = tracker()
    observe(episodes, 11, second(0))
    observe(episodes, 12, second(1))
    swept = episodes.sweep(epoch_seconds(second(1 + now)))
    if closes:
        assert summary(swept) == [("closed", "warning", None)]
        assert swept[0].episode.closed_at == second(6)  # last_seen_at + window, not "now"
        assert len(episodes) == 0
    else:
        assert swept == []
        assert len(episodes) == 1


def test_sweep_closes_only_the_stale_episodes_oldest_first() -> None:
    episodes = tracker()
    observe(episodes, 11, second(0), user="a")
    observe(episodes, 11, second(1), user="b")
    observe(episodes, 11, second(3), user="c")
    observe(episodes, 12, second(3.5), user="a")  # a is fresh again
    swept = episodes.sweep(epoch_seconds(second(7)))
    assert [t.episode.user_id for t in swept] == ["b"]
    assert [t.episode.user_id for t in episodes.sweep(epoch_seconds(second(9)))] == ["c", "a"]


def test_an_event_after_a_missed_sweep_closes_the_stale_episode_first() -> None:
    episodes = tracker()
    observe(episodes, 15, second(0))
    later = observe(episodes, 11, second(7))
    assert summary(later) == [("closed", "critical", None), ("opened", "warning", "warning")]
    assert later[0].episode.closed_at == second(5)
    assert later[1].episode.id == "ep-2"
    quiet = observe(episodes, 2, second(20))
    assert [(t.kind, t.episode.closed_at) for t in quiet] == [("closed", second(12))]


def test_an_older_event_does_not_move_last_seen_back() -> None:
    episodes = tracker()
    observe(episodes, 11, second(2))
    update = observe(episodes, 12, second(1))
    assert update[0].episode.last_seen_at == second(2)
    assert update[0].episode.event_count == 2
    assert episodes.sweep(epoch_seconds(second(6.5))) == []


def test_restored_episodes_carry_on() -> None:
    stored = [
        Episode(id="kept", user_id="u", signal_type="message", severity="warning", threshold=10,
                window_seconds=5.0, peak_count=12, event_count=3, opened_at=second(0),
                last_seen_at=second(2), sample_event_ids=["a", "b", "c"], alerted=["warning"]),
        Episode(id="old", user_id="v", signal_type="message", severity="critical", threshold=10,
                window_seconds=5.0, peak_count=20, event_count=9, opened_at=second(0),
                last_seen_at=second(1), closed_at=second(3)),
        Episode(id="stale", user_id="w", signal_type="message", severity="warning", threshold=10,
                window_seconds=5.0, peak_count=11, event_count=1, opened_at=OFFSET_MIDNIGHT,
                last_seen_at=OFFSET_MIDNIGHT),
    ]  # fmt: skip
    episodes = tracker()
    episodes.restore(stored)
    assert len(episodes) == 2  # the closed one is history
    update = observe(episodes, 16, second(3), event_id="d")
    assert summary(update) == [("escalated", "critical", "critical")]
    assert update[0].episode.id == "kept"
    assert update[0].episode.sample_event_ids == ["a", "b", "c", "d"]
    assert update[0].episode.alerted == ["warning"]
    assert stored[0].event_count == 3  # the tracker works on its own copy
    assert summary(observe(episodes, 1, second(0.5), user="v")) == []
    swept = episodes.sweep(epoch_seconds(second(6)))
    assert [(t.episode.id, t.episode.closed_at) for t in swept] == [
        ("stale", "2026-01-01T00:00:05.000000Z")
    ]


def test_alerts_are_remembered_in_later_copies() -> None:
    episodes = tracker()
    opened = observe(episodes, 15, second(0))[0].episode
    assert episodes.mark_alerted(opened, "critical")
    assert episodes.mark_alerted(opened, "critical")  # idempotent
    assert observe(episodes, 16, second(1))[0].episode.alerted == ["critical"]
    assert episodes.open_episodes()[0].alerted == ["critical"]
    closed = observe(episodes, 2, second(2))[0].episode
    assert closed.alerted == ["critical"]
    assert not episodes.mark_alerted(closed, "critical")  # closed: nothing to mark
    reopened = observe(episodes, 11, second(3))[0].episode
    assert not episodes.mark_alerted(opened, "warning")  # another episode of the same key
    assert reopened.alerted == []
