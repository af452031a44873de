"""An anomaly is readable soon after the event that crossed the threshold (the target: 1 s).

This only checks that it appears, polling every 5 ms, and records how long it took as the
`visible_after_ms` property (`--junitxml` shows it); the real figure
comes from `benchmarks/bench_anomaly.py`, since a loaded test machine times nothing reliably.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import live_service, settings_for
from tests.integrity.detection.support import (
    Json,
    batch,
    episodes_of,
    event,
    eventually,
    log,
    stored,
)


async def test_the_crossing_event_is_visible_as_an_anomaly_at_once(
    tmp_path: Path, windows_env: dict[str, str], record_property: Callable[[str, object], None]
) -> None:
    settings = settings_for(tmp_path, THRESHOLDS__DEFAULT="3", WINDOWS__SECONDS="10",
                            **windows_env)  # fmt: skip
    user = "visible-user"
    async with live_service(settings) as live:
        quiet = await batch(live.ingest, [event(user) for _ in range(3)])
        await stored(live.ingest, quiet, user)
        started = time.perf_counter()
        crossing = await log(live.ingest, user)

        async def visible() -> list[Json]:
            return await episodes_of(live.integrity, user)

        [episode] = await eventually(visible, within=10.0, every=0.005)
        elapsed_ms = (time.perf_counter() - started) * 1000
        record_property("visible_after_ms", round(elapsed_ms, 1))
        assert episode["sample_event_ids"] == [crossing["event_id"]]
