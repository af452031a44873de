"""How far a long command has come: `signals replay` and `signals simulate` report through this.

`Progress` takes the count done (records replayed, events sent), a total once it is known, and a
few named figures (accepted, bursts, errors). With a terminal on stderr it draws one live line
there with rich: done of total, a bar, the rate, the time left, the figures. Anywhere else
(a pipe, a file, a service manager) it logs a structlog line at most every `interval` seconds
with the same figures as fields, so a log collector sees the job move without a redrawn line.

While the line is live, log lines bound for the same terminal are printed above it instead of
through it, so neither garbles the other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Self, cast

import structlog
from rich.console import Console
from rich.file_proxy import FileProxy
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_SECONDS = 5.0


class _Rate(ProgressColumn):
    """Done per second, over rich's recent samples (the bar's own speed estimate)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        shown = "-" if speed is None else f"{speed:,.0f}"
        return Text(f"{shown} {self._unit}/s", style="progress.data.speed")


class _Figures(ProgressColumn):
    def render(self, task: Task) -> Text:
        figures = task.fields.get("figures") or {}
        return Text(" · ".join(f"{name} {value:,}" for name, value in figures.items()))


class Progress:
    """One job's progress; use as a context manager, call `update` as the job goes."""

    def __init__(
        self,
        what: str,
        unit: str,
        *,
        console: Console | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        transient: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`what` names the job in the line and the log event (`<what> progress`); `unit` is
        what is counted ("records"). `console` defaults to stderr; `interval` spaces log lines.
        `transient`: the live line is removed at the end (a summary follows in its place)."""
        self._what = what
        self._unit = unit
        self._console = console or Console(stderr=True)
        self.live = self._console.is_terminal and not self._console.is_dumb_terminal
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._logged_at = self._started
        self._done = 0
        self._total: int | None = None
        self._bar: RichProgress | None = None
        self._task = TaskID(0)
        self._proxied: list[tuple[logging.StreamHandler[IO[str]], IO[str]]] = []
        if self.live:
            self._bar = RichProgress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _Rate(unit),
                TimeRemainingColumn(compact=True, elapsed_when_finished=True),
                _Figures(),
                console=self._console,
                transient=transient,
                refresh_per_second=4,
            )

    def __enter__(self) -> Self:
        self._started = self._logged_at = self._clock()
        if self._bar is not None:
            self._task = self._bar.add_task(self._what, total=None, figures={})
            self._bar.start()
            self._log_above_the_line()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            for handler, stream in self._proxied:
                handler.setStream(stream)
            self._proxied.clear()

    @property
    def done(self) -> int:
        return self._done

    @property
    def total(self) -> int | None:
        return self._total

    def update(self, done: int, *, total: int | None = None, **figures: int) -> None:
        """`done` so far (not an increment); `total` when it becomes known; named figures."""
        self._done = done
        if total is not None:
            self._total = total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self._total, figures=figures)
            return
        now = self._clock()
        if now - self._logged_at >= self._interval:
            self._logged_at = now
            log.info(f"{self._what} progress", **self.figures(now), **figures)

    def figures(self, now: float | None = None) -> dict[str, int | float | str | None]:
        """done, total, unit, the average rate since the start and the time left at that rate."""
        elapsed = (self._clock() if now is None else now) - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        eta = None
        if self._total is not None and rate > 0:
            eta = round(max(0, self._total - self._done) / rate, 1)
        return {
            "done": self._done,
            "total": self._total,
            "unit": self._unit,
            "rate_per_second": round(rate, 1),
            "eta_seconds": eta,
        }

    def _log_above_the_line(self) -> None:
        # Our log handler keeps the stream it was given at start; one on this terminal would
        # write through the live line, so it writes through rich's console (above it) meanwhile.
        for handler in logging.getLogger().handlers:
            if not isinstance(handler, logging.StreamHandler):
                continue
            stream = cast("IO[str]", handler.stream)
            isatty = getattr(stream, "isatty", None)
            if isatty is not None and isatty():
                self._proxied.append((handler, stream))
                handler.setStream(cast("IO[str]", FileProxy(self._console, stream)))
