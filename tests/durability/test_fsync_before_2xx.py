""" "A 2xx means the event is in the journal and fsynced", observed from outside.

`signals serve` runs under `strace -f` (`journal.fsync = "always"`), while concurrent clients
post single events and batches to both ports, each request with an `X-Request-ID` of our own.
The journal lines carry their request's id, and so do the response headers. From the trace:
for every 2xx answer to one of our POSTs, every journal line of that request was written to the
active segment, an fsync of that same file descriptor began after that write ended and returned
0 before the first byte of the answer was written to the client's socket. Kill -9 cannot show
this (the page cache survives a process), and the service's own word is not evidence.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.support.ci import cannot_run
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.slow

STRACE = shutil.which("strace")
CLIENTS = 24
ROUNDS = 6
SYSCALLS = "openat,accept4,accept,close,write,writev,sendto,sendmsg,fsync,fdatasync,pwrite64"

# `PID SECONDS.MICROS name(args) = result <duration>`, or split in two by another thread:
# `... name(args <unfinished ...>` then `... <... name resumed>rest) = result <duration>`.
_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)(?:\s+\w+\s+\(.*\))?\s+<(\d+\.\d+)>$", re.S)
_UNFINISHED = re.compile(r"^(\w+)\((.*) <unfinished \.\.\.>$", re.S)
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$", re.S)
_FD = re.compile(r"^(\d+)")
_SEGMENT_PATH = re.compile(r'"[^"]*/journal/segment-\d{12}\.jsonl"')
_JOURNAL_REQUEST = re.compile(r'\\"request_id\\":\\"([A-Za-z0-9._:-]+)\\"')
_RESPONSE = re.compile(r'^\d+, "HTTP/1\.1 (\d{3}) ')
_RESPONSE_ID = re.compile(r"x-request-id: ([A-Za-z0-9._:-]+)\\r\\n")


@dataclass
class Call:
    pid: int
    name: str
    args: str
    result: int
    start: float
    end: float


def calls(trace: str) -> list[Call]:
    """Every completed syscall, in order of its start, with its start and end times."""
    done: list[Call] = []
    pending: dict[tuple[int, str], tuple[float, str]] = {}
    for raw in trace.splitlines():
        line = _LINE.match(raw)
        if line is None:
            continue
        pid, at, rest = int(line[1]), float(line[2]), line[3]
        if unfinished := _UNFINISHED.match(rest):
            pending[pid, unfinished[1]] = (at, unfinished[2])
            continue
        if resumed := _RESUMED.match(rest):
            started, head = pending.pop((pid, resumed[1]))
            rest = f"{resumed[1]}({head}{resumed[2]}"
            at = started
        call = _CALL.match(rest)
        if call is not None:
            name, args, result, took = call[1], call[2], int(call[3]), float(call[4])
            done.append(Call(pid, name, args, result, at, at + took))
    return sorted(done, key=lambda c: c.start)


@dataclass
class Evidence:
    line_written: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # (fd, end)
    fsyncs: list[tuple[int, float, float]] = field(default_factory=list)  # (fd, start, end)
    answers: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (status, start)


def evidence(trace: str) -> Evidence:
    """Follow descriptors through the trace: which are journal segments, which are clients."""
    found = Evidence()
    segments: set[int] = set()
    clients: set[int] = set()
    for call in calls(trace):
        fd_match = _FD.match(call.args)
        fd = int(fd_match[1]) if fd_match else -1
        if call.name == "openat" and call.result >= 0 and _SEGMENT_PATH.search(call.args):
            segments.add(call.result)
        elif call.name in ("accept4", "accept") and call.result >= 0:
            clients.add(call.result)
        elif call.name == "close":
            segments.discard(fd)
            clients.discard(fd)
        elif call.name in ("write", "pwrite64") and fd in segments and call.result > 0:
            for request_id in _JOURNAL_REQUEST.findall(call.args):
                found.line_written.setdefault(request_id, []).append((fd, call.end))
        elif call.name in ("fsync", "fdatasync") and fd in segments and call.result == 0:
            found.fsyncs.append((fd, call.start, call.end))
        elif call.name in ("write", "writev", "sendto", "sendmsg") and fd in clients:
            response = _RESPONSE.match(call.args)
            request_id = _RESPONSE_ID.search(call.args)
            if response and request_id:
                found.answers[request_id[1]] = (int(response[1]), call.start)
    return found


def uncovered(found: Evidence, request_id: str) -> str | None:
    """Why the 2xx answer to `request_id` was not preceded by an fsync covering its lines."""
    status, answered = found.answers[request_id]
    writes = found.line_written.get(request_id)
    if not writes:
        return f"{request_id}: answered {status} but no journal line of it was written"
    for fd, written in writes:
        if not any(
            fsync_fd == fd and began >= written and ended <= answered
            for fsync_fd, began, ended in found.fsyncs
        ):
            return f"{request_id}: answered at {answered} without an fsync after its write"
    return None


async def post_all(service: ServiceProcess) -> set[str]:
    """Concurrent single events and batches on both ports; the ids of the 2xx answers."""
    ok: set[str] = set()
    async with (
        httpx.AsyncClient(base_url=service.ingest, timeout=60) as ingest,
        httpx.AsyncClient(base_url=service.integrity, timeout=60) as integrity,
    ):

        async def client(n: int) -> None:
            for round_ in range(ROUNDS):
                request_id = f"strace-{n}-{round_}"
                headers = {"X-Request-ID": request_id}
                event = {"user_id": f"u{n}", "signal_type": "chat", "text": f"round {round_}"}
                if round_ % 3 == 0:
                    response = await ingest.post("/v1/log", json=event, headers=headers)
                elif round_ % 3 == 1:
                    response = await ingest.post(
                        "/v1/log/batch", json=[event, event], headers=headers
                    )
                else:
                    response = await integrity.post("/v1/events", json=event, headers=headers)
                assert response.status_code == 202, response.text
                ok.add(request_id)

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return ok


async def traced_run(tmp_path: Path, journal: dict[str, object]) -> tuple[set[str], Evidence]:
    """Serve under strace with these journal settings, post, stop; what the trace shows."""
    if STRACE is None:
        cannot_run("needs strace (apt-get install strace)")
    trace_path = tmp_path / "trace.txt"
    command = [STRACE, "-f", "-ttt", "-T", "-s", "1048576", "-e", f"trace={SYSCALLS}",
               "-o", str(trace_path), sys.executable, "-m", "signals"]  # fmt: skip
    service = ServiceProcess(tmp_path, {"journal": journal}, command=command)
    try:
        await asyncio.to_thread(service.start)
        accepted = await post_all(service)
        assert service.process is not None
        # strace ignores SIGTERM; the service under it exits on its own, and strace follows.
        children = f"/proc/{service.process.pid}/task/{service.process.pid}/children"
        (child,) = (await asyncio.to_thread(Path(children).read_text)).split()
        os.kill(int(child), signal.SIGTERM)
        assert await asyncio.to_thread(service.process.wait, 60) == 0
    finally:
        service.__exit__()
    return accepted, evidence(trace_path.read_text())


async def test_every_2xx_is_sent_after_an_fsync_that_covers_its_lines(tmp_path: Path) -> None:
    accepted, found = await traced_run(tmp_path, {"fsync": "always"})
    assert len(accepted) == CLIENTS * ROUNDS
    assert accepted <= set(found.answers), accepted - set(found.answers)
    assert all(found.answers[request_id][0] == 202 for request_id in accepted)
    problems = [problem for rid in sorted(accepted) if (problem := uncovered(found, rid))]
    assert problems == []
    # Group commit was at work: fewer fsyncs than answered requests.
    assert 0 < len(found.fsyncs) < len(accepted)


async def test_the_check_catches_answers_sent_before_their_fsync(tmp_path: Path) -> None:
    """The control: `interval` mode answers after the write and fsyncs later, which the same
    reading of the trace must find (else it would prove nothing)."""
    accepted, found = await traced_run(tmp_path, {"fsync": "interval", "fsync_interval_ms": 60_000})
    problems = [problem for rid in sorted(accepted) if (problem := uncovered(found, rid))]
    assert len(problems) == len(accepted) == CLIENTS * ROUNDS
