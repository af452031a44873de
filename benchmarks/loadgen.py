"""An HTTP/1.1 load generator: keep-alive connections, pre-encoded requests, per-request latency.

Two modes:

- closed loop (`rate=None`): each of `connections` connections sends its next request as soon as
  the previous answer is in; measures peak throughput;
- open loop (`rate=R`): requests are *scheduled* at R per second whatever the server does; a
  request whose turn comes while every connection is busy waits in a queue, and its latency
  counts from its scheduled time, not from when it was finally sent, so a stalling server cannot
  hide its stalls (no coordinated omission).

The client is an `asyncio.Protocol` on uvloop: request bytes are built before the run and cycled,
and a response is parsed only as far as its status line and `content-length`. Each connection
has one request in flight (no pipelining), and a run waits for the answers in flight before it
returns, so every request the server answered is counted. On the project's 2-core VM it costs
about 40 us of client CPU per request, as wrk does (38 us): the kernel's socket work dominates.

    .venv/bin/python benchmarks/loadgen.py --url http://127.0.0.1:8000/v1/log \
        [--connections 64] [--duration 10] [--rate 5000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import uvloop
from traffic import Traffic

_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"


def build_request(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass
class Result:
    """What one run measured. Latencies in seconds, for completed requests only."""

    elapsed: float
    events_per_request: int
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    unfinished: int = 0  # open loop: scheduled but not answered when the run ended
    in_window: int = 0  # answered before `elapsed` ran out (the rest drained after it)
    client_cpu: float = 0.0  # this process's CPU seconds during the run

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def rps(self) -> float:
        return self.in_window / self.elapsed if self.elapsed else 0.0

    @property
    def events_per_second(self) -> float:
        return self.rps * self.events_per_request

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.started = 0.0  # when the request in flight counts from
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes, started: float) -> None:
        assert self.transport is not None
        self.started = started
        self.busy = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        # Usually one read holds one whole response: parse it in place, copy nothing.
        if self.buffer:
            self.buffer += data
            data = bytes(self.buffer)
        end = data.find(_HEAD_END)
        if end < 0:
            self.buffer = bytearray(data)
            return
        at = data.find(_LENGTH, 0, end)
        if at < 0:
            at = data[:end].lower().find(_LENGTH)
        at += len(_LENGTH)
        stop = data.find(b"\r\n", at, end)
        total = end + 4 + int(data[at : stop if stop >= 0 else end])
        if len(data) < total:
            self.buffer = bytearray(data)
            return
        if len(data) > total:
            raise RuntimeError("response bytes after the answer: this client never pipelines")
        self.buffer.clear()
        self.busy = False
        self.run.done(self, int(data[9:12]), self.started)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.run.lost(self)


class _Run:
    def __init__(self, requests: Sequence[bytes], events_per_request: int) -> None:
        self.requests = requests
        self.next = 0
        self.result = Result(0.0, events_per_request)
        self.stopping = False
        self.idle: list[_Connection] = []
        self.waiting: collections.deque[float] = collections.deque()  # scheduled send times
        self.open_loop = False
        self.in_flight = 0
        self.drained = asyncio.Event()
        self._clock = time.perf_counter

    def request(self) -> bytes:
        request = self.requests[self.next]
        self.next = (self.next + 1) % len(self.requests)
        return request

    def done(self, connection: _Connection, status: int, started: float) -> None:
        now = self._clock()
        self.result.statuses[status] += 1
        self.result.latencies.append(now - started)
        self.in_flight -= 1
        if self.open_loop:
            if self.waiting:
                self._send(connection, self.waiting.popleft())
                return
        elif not self.stopping:
            self._send(connection, now)
            return
        self.idle.append(connection)
        if self.stopping and self.in_flight == 0 and not self.waiting:
            self.drained.set()

    def _send(self, connection: _Connection, started: float) -> None:
        self.in_flight += 1
        connection.send(self.request(), started)

    def dispatch(self, scheduled: float) -> None:
        if self.idle:
            self._send(self.idle.pop(), scheduled)
        else:
            self.waiting.append(scheduled)

    def lost(self, connection: _Connection) -> None:
        if connection.busy:
            self.result.errors += 1
            self.in_flight -= 1
        if connection in self.idle:
            self.idle.remove(connection)
        if self.stopping and self.in_flight == 0:
            self.drained.set()


async def run(
    url: str,
    requests: Sequence[bytes],
    *,
    connections: int,
    duration: float,
    rate: float | None = None,
    events_per_request: int = 1,
    drain_timeout: float = 10.0,
) -> Result:
    """Send `requests` (cycled) to `url`'s host and port for `duration` seconds."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    state = _Run(requests, events_per_request)
    state.open_loop = rate is not None
    opened = [
        (await loop.create_connection(lambda: _Connection(state), host, port))[1]
        for _ in range(connections)
    ]
    state.idle = list(opened)
    cpu = time.process_time()
    started = time.perf_counter()
    if rate is None:
        for connection in list(state.idle):
            state.idle.remove(connection)
            state._send(connection, time.perf_counter())
        await asyncio.sleep(duration)
    else:
        await _schedule(state, rate, duration, started)
    state.stopping = True
    elapsed = time.perf_counter() - started
    state.result.in_window = state.result.completed
    state.result.client_cpu = time.process_time() - cpu
    if state.in_flight or state.waiting:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.drained.wait(), drain_timeout)
    state.result.unfinished = state.in_flight + len(state.waiting)
    state.result.elapsed = elapsed
    for connection in opened:
        if connection.transport is not None:
            connection.transport.close()
    return state.result


async def _schedule(state: _Run, rate: float, duration: float, started: float) -> None:
    """Dispatch request number n at its slot, `started + n / rate`, on the event loop.

    A thread keeps time: uvloop's timers are millisecond-grained, so an asyncio sleep to a
    slot a fraction of a millisecond away returns at once, and the generator used to spin:
    always about 99% busy, which hid whether it kept up. `time.sleep` wakes within tens of
    microseconds; the thread hands each slot's requests to the loop, and latency counts from
    the slot. Waking every millisecond instead would send in bursts, which the server answers
    more cheaply than requests spread evenly (about 15% less CPU per event): not the same load.
    """
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    interval = 1.0 / rate
    total = int(rate * duration)

    def dispatch(first: int, last: int) -> None:
        for number in range(first, last):
            state.dispatch(started + number * interval)
        if last == total and not finished.done():
            finished.set_result(None)

    def keep_time() -> None:
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - started) / interval) + 1)
            if due > sent:
                loop.call_soon_threadsafe(dispatch, sent, due)
                sent = due
            time.sleep(max(0.0, started + sent * interval - time.perf_counter()))

    timer = threading.Thread(target=keep_time, name="loadgen-schedule", daemon=True)
    timer.start()
    await finished
    timer.join()


def requests_for(url: str, count: int, batch: int, seed: int) -> list[bytes]:
    parts = urlsplit(url)
    traffic = Traffic(seed)
    host = parts.netloc
    path = parts.path or "/"
    if batch > 1:
        return [build_request(host, path, traffic.batch_body(batch)) for _ in range(count)]
    return [build_request(host, path, traffic.body()) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000/v1/log")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=None, help="requests/s (open loop)")
    parser.add_argument("--batch", type=int, default=1, help="events per request (JSON array)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    count = 50 if args.batch > 1 else 20_000
    requests = requests_for(args.url, count, args.batch, args.seed)
    result = uvloop.run(
        run(
            args.url,
            requests,
            connections=args.connections,
            duration=args.duration,
            rate=args.rate,
            events_per_request=args.batch,
        )
    )
    print(
        f"{result.rps:,.0f} req/s  {result.events_per_second:,.0f} events/s  "
        f"p50 {result.percentile(50) * 1e3:.2f} ms  p99 {result.percentile(99) * 1e3:.2f} ms  "
        f"statuses {dict(result.statuses)}  errors {result.errors}  "
        f"unfinished {result.unfinished}  "
        f"client CPU {result.client_cpu / max(1, result.in_window) * 1e6:.1f} us/req"
    )


if __name__ == "__main__":
    main()
