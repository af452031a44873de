"""A journal outage: from the first failed write or fsync to the next one that succeeds.

`failed(exc, what)` gives the error for the callers of a failed group and logs only the first
failure of an outage (`journal.unavailable`); `ended()` logs its end once (`journal.available`).
While it lasts `error` is set, readiness fails with it, and `signals_journal_unavailable` is 1.
"""

from __future__ import annotations

import errno
import time

import structlog

from signals.errors import JournalUnavailable
from signals.metrics import Metrics

log = structlog.get_logger("signals.journal.writer")


class Outage:
    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self.error: JournalUnavailable | None = None
        self._started = 0.0

    def failed(self, exc: OSError, what: str, **context: object) -> JournalUnavailable:
        refusal = JournalUnavailable.wrapping(exc, what)
        if self.error is None:
            self._started = time.monotonic()
            log.error(
                "journal.unavailable",
                error=str(exc),
                errno=errno.errorcode.get(exc.errno or 0),
                message="appends fail with 503 unavailable until a write succeeds again",
                **context,
            )
        else:
            log.debug("journal.still_unavailable", error=str(exc), **context)
        self.error = refusal
        self.gauge(True)
        return refusal

    def ended(self) -> None:
        if self.error is not None:
            seconds = round(time.monotonic() - self._started, 3)
            log.info("journal.available", outage_seconds=seconds)
            self.error = None
            self.gauge(False)

    def gauge(self, unavailable: bool) -> None:
        if self._metrics is not None:
            self._metrics.journal_unavailable.set(1 if unavailable else 0)
