"""`signals.progress`: a live line on a terminal, log lines elsewhere, the same figures in both."""

from __future__ import annotations

import io
import logging

from rich.console import Console
from structlog.testing import capture_logs

from signals.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plain_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False)


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=160, color_system=None), out


def test_without_a_terminal_it_logs_every_interval_with_rate_and_time_left() -> None:
    clock = Clock()
    progress = Progress("replay", "records", console=plain_console(), interval=5, clock=clock)
    assert not progress.live
    with capture_logs() as captured, progress:
        clock.now += 1
        progress.update(100, stored=100)  # 1 s in: too soon for a line
        clock.now += 4
        progress.update(500, total=2000, stored=400)
        clock.now += 2
        progress.update(700, stored=600)  # 2 s after the last line: none
        clock.now += 3
        progress.update(1000, stored=900)
    assert captured == [
        {
            "event": "replay progress", "log_level": "info", "done": 500, "total": 2000,
            "unit": "records", "rate_per_second": 100.0, "eta_seconds": 15.0, "stored": 400,
        },
        {
            "event": "replay progress", "log_level": "info", "done": 1000, "total": 2000,
            "unit": "records", "rate_per_second": 100.0, "eta_seconds": 10.0, "stored": 900,
        },
    ]  # fmt: skip


def test_before_the_total_is_known_there_is_a_rate_and_no_time_left() -> None:
    clock = Clock()
    progress = Progress("replay", "records", console=plain_console(), interval=0, clock=clock)
    with progress:
        clock.now += 2
        progress.update(300)
        assert progress.figures() == {
            "done": 300, "total": None, "unit": "records", "rate_per_second": 150.0,
            "eta_seconds": None,
        }  # fmt: skip


def test_on_a_terminal_it_draws_done_of_total_the_rate_and_the_figures() -> None:
    console, out = terminal()
    with Progress("replay", "records", console=console) as progress:
        assert progress.live
        progress.update(1500, total=4000, stored=1200)
    drawn = out.getvalue()
    assert "replay" in drawn
    assert "1500/4000" in drawn
    assert "records/s" in drawn
    assert "stored 1,200" in drawn


def test_log_lines_for_the_terminal_print_above_the_live_line() -> None:
    console, out = terminal()

    class TerminalStream(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = TerminalStream()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    kept = root.handlers[:]
    root.handlers[:] = [handler]
    try:
        with Progress("replay", "records", console=console) as progress:
            logging.getLogger("signals.test").warning("a torn line was skipped")
            progress.update(1, total=2)
        assert handler.stream is stream  # given back at the end
    finally:
        root.handlers[:] = kept
    assert stream.getvalue() == ""  # it went through the live console instead
    assert "a torn line was skipped" in out.getvalue()
