"""`signals simulate` against a real HTTP server (Starlette under uvicorn on a free port) that
records what it receives and answers like the service's ingest port; and its progress: a live line
at a terminal, log lines elsewhere, the summary at the end."""

from __future__ import annotations

import asyncio
import io
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import uvicorn
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs
from tests.support.terminal import run_in_terminal

from signals.errors import UsageError
from signals.progress import Progress
from signals.simulate.corpus import MESSAGES
from signals.simulate.run import simulate
from signals.simulate.summary import SimulationSummary, delivered, format_summary

LABEL_OF_TEXT = {text: label for label, texts in MESSAGES.items() for text in texts}


class Recorder:
    """What the fake ingest port saw; `status` forces every answer to that status when set."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.ids: set[str] = set()
        self.repeats = 0
        self.singles = 0
        self.batches = 0
        self.api_keys: Counter[str | None] = Counter()
        self.status: int | None = None

    def keep(self, event: dict[str, Any]) -> bool:
        """Record one event; False when its event_id was seen before."""
        if event["event_id"] in self.ids:
            self.repeats += 1
            return False
        self.ids.add(event["event_id"])
        self.received.append((time.monotonic(), event))
        return True

    def app(self) -> Starlette:
        async def log(request: Request) -> Response:
            self.singles += 1
            self.api_keys[request.headers.get("x-api-key")] += 1
            if self.status is not None:
                return error(self.status)
            event = msgspec.json.decode(await request.body())
            new = self.keep(event)
            answer = {
                "event_id": event["event_id"],
                "sentiment": LABEL_OF_TEXT.get(event.get("text") or "", "neutral"),
                "sentiment_cues": [],
                "received_at": "2025-01-01T00:00:00.000000Z",
                "duplicate": not new,
            }
            return JSONResponse(answer, status_code=202 if new else 200)

        async def batch(request: Request) -> Response:
            self.batches += 1
            self.api_keys[request.headers.get("x-api-key")] += 1
            if self.status is not None:
                return error(self.status)
            events = msgspec.json.decode(await request.body())
            kept = [self.keep(event) for event in events]
            answer = {
                "accepted": sum(kept),
                "duplicates": len(kept) - sum(kept),
                "event_ids": [event["event_id"] for event in events],
                "rejected": [],
            }
            return JSONResponse(answer, status_code=202)

        return Starlette(
            routes=[
                Route("/v1/log", log, methods=["POST"]),
                Route("/v1/log/batch", batch, methods=["POST"]),
            ]
        )


def error(status: int) -> Response:
    code = {422: "validation_failed", 503: "overloaded", 401: "unauthorized"}.get(status, "x")
    body = {"error": {"code": code, "message": code, "details": []}, "request_id": "r1"}
    return JSONResponse(body, status_code=status)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        recorder.app(), log_config=None, lifespan="off", ws="none", access_log=False
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "test server did not start"
        assert not task.done(), "test server stopped"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", recorder
    finally:
        uv.should_exit = True
        await task
        sock.close()


def max_in_window(times: list[float], window: float) -> int:
    """The most events any `window`-second interval holds."""
    best = 0
    start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def check_counts_add_up(summary: SimulationSummary) -> None:
    outcomes = summary.accepted + summary.duplicates + summary.rejected + summary.failed
    assert summary.sent == outcomes
    assert summary.sent >= sum(summary.signal_types.values())


async def test_traffic_has_the_mix_the_bursts_and_roughly_the_rate(
    server: tuple[str, Recorder],
) -> None:
    url, recorder = server
    summary = await simulate(url, rate=60, duration=3, users=20, seed=7)

    check_counts_add_up(summary)
    assert summary.errors == {}
    assert summary.failed == 0
    assert summary.accepted == len(recorder.received)
    assert summary.duplicates == recorder.repeats
    assert summary.sent == sum(summary.signal_types.values()) + summary.duplicates
    # Loose bounds: 180 planned; a loaded machine may fall short, never far above.
    assert 40 <= summary.sent <= 300
    assert recorder.singles > 0
    assert recorder.batches > 0

    events = [event for _, event in recorder.received]
    labels = Counter(LABEL_OF_TEXT.get(e.get("text") or "", "neutral") for e in events)
    assert set(labels) == {"stressed", "uncertain", "positive", "neutral"}
    assert min(labels.values()) >= 3
    assert summary.sentiments_sent == {s: labels[s] for s in summary.sentiments_sent}
    assert len({e["signal_type"] for e in events}) >= 4
    assert all(e["event_id"].startswith("sim-") for e in events)

    per_user = Counter(e["user_id"] for e in events)
    assert 5 <= len(per_user) <= 20
    assert summary.users == len(per_user)
    assert per_user.most_common(1)[0][1] > statistics.median(per_user.values())

    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for moment, event in recorder.received:
        times[(event["user_id"], event["signal_type"])].append(moment)
    peaks = sorted(max_in_window(sorted(t), 5.0) for t in times.values())
    assert summary.bursts >= 1
    assert summary.critical_bursts >= 1  # the first burst always reaches critical
    assert peaks[-1] >= 15, peaks  # > threshold 10 and >= 1.5 x 10 inside one 5 s window


async def test_refused_connection_is_reported_not_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port now: every connection is refused.
    summary = await simulate(f"http://127.0.0.1:{port}", rate=20, duration=1, seed=1)

    check_counts_add_up(summary)
    assert summary.sent > 0
    assert summary.accepted == 0
    assert summary.failed == summary.sent
    assert set(summary.errors) == {"connect"}
    assert summary.errors["connect"] == summary.requests
    text = format_summary(summary)
    assert "connect" in text
    assert "nothing reached" in text
    assert not delivered(summary)


@pytest.mark.parametrize(
    ("status", "field", "error_kind"),
    [(503, "failed", "http_503"), (401, "failed", "http_401"), (422, "rejected", None)],
)
async def test_error_statuses_are_counted(
    server: tuple[str, Recorder], status: int, field: str, error_kind: str | None
) -> None:
    url, recorder = server
    recorder.status = status
    summary = await simulate(url, rate=30, duration=1, seed=2)

    check_counts_add_up(summary)
    assert summary.sent > 0
    assert summary.accepted == 0
    assert getattr(summary, field) == summary.sent
    assert summary.errors == ({error_kind: summary.requests} if error_kind else {})
    assert not delivered(summary)
    assert "nothing was accepted by" in format_summary(summary)


async def test_api_key_goes_in_every_request(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    summary = await simulate(url, rate=20, duration=0.5, api_key="sk_test_123", seed=3)

    assert summary.requests > 0
    assert recorder.api_keys == Counter({"sk_test_123": summary.requests})


async def test_no_key_sends_no_header(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    await simulate(url, rate=20, duration=0.3, seed=4)

    assert set(recorder.api_keys) == {None}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0, "duration": 1},
        {"rate": -5, "duration": 1},
        {"rate": float("nan"), "duration": 1},
        {"rate": 10, "duration": 0},
        {"rate": 10, "duration": float("inf")},
        {"rate": 10, "duration": 1, "users": 0},
        {"rate": 10, "duration": 1, "threshold": 0},
    ],
)
async def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="must be"):
        await simulate("http://127.0.0.1:9", **kwargs)


def test_corpus_has_every_label_and_variety() -> None:
    assert set(MESSAGES) == {"stressed", "uncertain", "positive", "neutral"}
    for texts in MESSAGES.values():
        assert len(texts) >= 15
        assert len(set(texts)) == len(texts)
    every = [text for texts in MESSAGES.values() for text in texts]
    assert len(set(every)) == len(every)


def test_summary_format_names_every_figure() -> None:
    summary = SimulationSummary(
        url="http://127.0.0.1:8000",
        target_rate=20,
        elapsed_seconds=60.04,
        achieved_rate=19.9,
        requests=1100,
        sent=1200,
        accepted=1180,
        duplicates=15,
        rejected=0,
        failed=5,
        errors={"timeout": 2, "http_503": 3},
        bursts=4,
        critical_bursts=2,
        users=50,
        sentiments_sent={"stressed": 300, "uncertain": 250, "positive": 250, "neutral": 385},
        sentiments_classified={"stressed": 280, "neutral": 400},
        signal_types={"chat": 500, "search": 685},
    )
    text = format_summary(summary)
    for fragment in (
        "60.0 s",
        "1200 events in 1100 requests",
        "19.9/s, target 20/s",
        "accepted 1180",
        "duplicates 15",
        "failed 5",
        "http_503 3, timeout 2",
        "4 (2 critical)",
        "stressed 300 (25%)",
        "chat 500",
    ):
        assert fragment in text
    assert "nothing reached" not in text


async def test_without_a_terminal_progress_is_log_lines_with_the_figures(
    server: tuple[str, Recorder],
) -> None:
    url, _ = server
    progress = Progress("simulate", "events", console=Console(file=io.StringIO()), interval=0)
    with capture_logs() as captured, progress:
        summary = await simulate(url, rate=40, duration=1, seed=5, progress=progress)
    lines = [line for line in captured if line["event"] == "simulate progress"]
    assert len(lines) >= 2
    assert lines[0]["done"] <= lines[-1]["done"]
    last = lines[-1]
    assert (last["done"], last["accepted"], last["bursts"], last["errors"]) == (
        summary.sent,
        summary.accepted,
        summary.bursts,
        0,
    )
    assert last["total"] >= 40
    assert last["unit"] == "events"


async def test_at_a_terminal_a_live_line_then_the_summary(server: tuple[str, Recorder]) -> None:
    url, _ = server
    argv = [sys.executable, "-m", "signals", "simulate", "--url", url, "--rate", "40",
            "--duration", "2", "--seed", "6"]  # fmt: skip
    status, drawn = await asyncio.to_thread(run_in_terminal, argv, Path.cwd())
    assert status == 0, drawn
    live = [line for line in drawn.splitlines() if "events/s" in line and "bursts" in line]
    assert live, drawn
    assert all("accepted" in line and "errors 0" in line for line in live)
    summary = drawn[drawn.index("simulated traffic to") :]
    assert f"{url}" in summary
    accepted = int(summary.split("accepted ")[1].split()[0])
    assert accepted > 0
    assert any(f"accepted {accepted:,}" in line for line in live)  # the last live figures


NOT_HTTP = "must be an http:// or https:// URL with a host"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:80x", "url is not a valid URL, not 'http://127.0.0.1:80x'"),
        ("http://[::1", "url is not a valid URL, not 'http://[::1'"),
        ("ftp://example.com", f"url {NOT_HTTP}, not 'ftp://example.com'"),
        ("localhost:8000", f"url {NOT_HTTP}, not 'localhost:8000'"),
    ],
)  # fmt: skip
def test_the_cli_refuses_a_url_it_cannot_send_to_with_exit_2(url: str, message: str) -> None:
    argv = [sys.executable, "-m", "signals", "simulate", "--url", url, "--duration", "0.5"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == f"signals: {message}\n"
    assert done.stdout == ""


def test_the_cli_exits_1_when_the_service_took_nothing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "signals", "simulate", "--url", f"http://127.0.0.1:{port}",
            "--rate", "20", "--duration", "0.5", "--seed", "7"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nothing reached" in done.stdout
