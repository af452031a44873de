"""The router forwarder in-process: a real journal, a real SQLite store, a real HTTP receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tests.durability.router_receiver import RouterReceiver
from tests.support.otlp_receiver import OtlpReceiver

from signals.ingest.forwarder import Forwarder, checkpoint_name
from signals.journal import START, Journal, JournalPosition
from signals.metrics import Metrics
from signals.settings import JournalSettings, OtelSettings, RouterSettings
from signals.store.sqlite.store import SqliteStore
from signals.tracing.otel import OtelTracing
from signals.tracing.traceparent import parse

INSTANCE = "test"


class CountingJournal(Journal):
    """A real journal that counts how often it is read from (to see a reader spin)."""

    reads = 0

    def read(self, start: JournalPosition = START) -> AsyncIterator[tuple[bytes, JournalPosition]]:
        self.reads += 1
        return super().read(start)


@dataclass
class Rig:
    journal: CountingJournal
    store: SqliteStore
    receiver: RouterReceiver
    metrics: Metrics

    def forwarder(self, **router: Any) -> Forwarder:
        base = RouterSettings(url=self.receiver.url, timeout_seconds=1.0, max_backoff_seconds=0.05)
        settings = msgspec.structs.replace(base, **router)
        return Forwarder(self.journal, self.store, settings, self.metrics, INSTANCE)

    async def append(self, *event_ids: str) -> JournalPosition:
        now = datetime.now(UTC).isoformat()
        lines = [
            msgspec.json.encode(
                {"event_id": e, "request_id": f"req-{e}", "received_at": now, "text": "x" * 100}
            )
            for e in event_ids
        ]
        return await self.journal.append(lines)

    def lag_metric(self) -> float:
        value = self.metrics.registry.get_sample_value("signals_router_lag_seconds")
        assert value is not None
        return value

    def outcomes(self, outcome: str) -> float:
        found = self.metrics.registry.get_sample_value(
            "signals_router_requests_total", {"outcome": outcome}
        )
        return found or 0.0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    journal = await CountingJournal.open(
        tmp_path / "journal", JournalSettings(segment_max_bytes=4096)
    )
    assert isinstance(journal, CountingJournal)
    async with (
        journal,
        await SqliteStore.open(tmp_path / "signals.db") as store,
        RouterReceiver() as receiver,
    ):
        await receiver.up()
        yield Rig(journal, store, receiver, Metrics())


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.005)


def ids(count: int, prefix: str = "e") -> list[str]:
    return [f"{prefix}-{i}" for i in range(count)]


async def test_one_record_per_request_in_journal_order_with_its_request_id(rig: Rig) -> None:
    async with rig.forwarder():
        for event_id in ids(30):  # many small appends: more than one segment
            await rig.append(event_id)
        await until(lambda: len(rig.receiver.delivered) == 30)
    assert rig.receiver.event_ids() == ids(30)
    for delivery in rig.receiver.delivered:
        assert delivery.body.startswith(b"{")
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.headers["x-request-id"] == f"req-{delivery.records()[0]['event_id']}"
    assert rig.journal.committed.segment > 1


async def test_batches_are_arrays_of_at_most_batch_size(rig: Rig) -> None:
    await rig.append(*ids(23))  # written before the start: the backlog goes in full arrays
    async with rig.forwarder(batch_size=5):
        await until(lambda: len(rig.receiver.event_ids()) == 23)
        await rig.append("late")
        await until(lambda: len(rig.receiver.event_ids()) == 24)
    sizes = [len(delivery.records()) for delivery in rig.receiver.delivered]
    assert sizes == [5, 5, 5, 5, 3, 1]
    assert rig.receiver.event_ids() == [*ids(23), "late"]
    assert all(delivery.body.startswith(b"[") for delivery in rig.receiver.delivered)
    assert rig.receiver.delivered[1].headers["x-request-id"] == "req-e-5"


async def test_a_failing_router_is_retried_visibly_until_it_recovers(rig: Rig) -> None:
    rig.receiver.mode = "fail"
    async with rig.forwarder() as forwarder:
        await rig.append("a", "b")
        await until(lambda: forwarder.failures >= 4)  # the same record, again and again
        check = forwarder.readiness()
        assert check["status"] == "degraded"
        assert check["consecutive_failures"] >= 4
        assert check["last_error"] == "http_5xx"
        assert check["position"] == [0, 0]
        assert rig.outcomes("http_5xx") >= 4
        assert rig.lag_metric() > 0
        rig.receiver.mode = "ok"
        await until(lambda: rig.receiver.event_ids() == ["a", "b"])
        await until(lambda: forwarder.readiness()["lag_seconds"] == 0)
        assert forwarder.readiness()["status"] == "ok"
        assert "last_error" not in forwarder.readiness()
        assert rig.lag_metric() == 0
        assert rig.outcomes("delivered") == 2


async def test_a_down_router_is_unreachable_and_the_lag_grows(rig: Rig) -> None:
    await rig.receiver.down()
    async with rig.forwarder() as forwarder:
        await rig.append("a")
        await until(lambda: forwarder.failures >= 2)
        first = rig.lag_metric()
        await until(lambda: rig.lag_metric() > first + 0.05)
        assert rig.outcomes("unreachable") >= 2
        await rig.receiver.up()
        await until(lambda: rig.receiver.event_ids() == ["a"])


async def test_the_checkpoint_is_saved_soon_after_delivery_and_resumed(rig: Rig) -> None:
    name = checkpoint_name(INSTANCE)
    async with rig.forwarder():
        end = await rig.append(*ids(10))
        await until(lambda: len(rig.receiver.delivered) == 10)
        # Saved while the service runs, not only at shutdown (a crash resends little).
        async with asyncio.timeout(5):
            while await rig.store.checkpoint(name) != end:
                await asyncio.sleep(0.01)
    rig.receiver.delivered.clear()
    await rig.append("after")
    async with rig.forwarder():
        await until(lambda: len(rig.receiver.delivered) == 1)
    assert rig.receiver.event_ids() == ["after"]
    assert await rig.store.checkpoint(name) == rig.journal.committed


async def test_stopping_against_a_hanging_router_is_prompt_and_keeps_the_position(
    rig: Rig,
) -> None:
    await rig.append("first")
    forwarder = rig.forwarder(timeout_seconds=30.0)
    async with forwarder:
        await until(lambda: rig.receiver.event_ids() == ["first"])
        rig.receiver.mode = "hang"
        await rig.append("second")
        await until(lambda: rig.receiver.attempts == 2)
        delivered = forwarder.position
    # aclose gave up on the hanging send; "second" was never confirmed, so it is resent later.
    assert await rig.store.checkpoint(checkpoint_name(INSTANCE)) == delivered
    assert delivered < rig.journal.committed


async def test_a_closed_journal_leaves_the_forwarder_idle_not_spinning(rig: Rig) -> None:
    async with rig.forwarder() as forwarder:
        await rig.append("a")
        await until(lambda: rig.receiver.event_ids() == ["a"])
        await rig.journal.aclose()
        for _ in range(5):
            await asyncio.sleep(0)
        reads = rig.journal.reads
        for _ in range(100):
            await asyncio.sleep(0)
        assert rig.journal.reads == reads
        assert forwarder.readiness()["status"] == "ok"


async def test_a_line_it_cannot_read_stops_nothing_else_and_shows_in_readiness(rig: Rig) -> None:
    await rig.journal.append([b"not json"])
    async with rig.forwarder() as forwarder:
        await until(lambda: forwarder.failures >= 2)  # retried, not given up
        check = forwarder.readiness()
        assert check["status"] == "degraded"
        assert check["last_error"].startswith("DecodeError")
    assert rig.receiver.attempts == 0


def traced_line(event_id: str, traceparent: str | None) -> bytes:
    now = datetime.now(UTC).isoformat()
    record = {"event_id": event_id, "request_id": f"req-{event_id}", "received_at": now}
    if traceparent is not None:
        record["traceparent"] = traceparent
    return msgspec.json.encode(record)


def parent(n: int, flags: str = "01") -> str:
    return f"00-{n:032x}-{n:016x}-{flags}"


async def test_a_forward_carries_its_first_records_traceparent(rig: Rig) -> None:
    await rig.journal.append(
        [traced_line("a", parent(1)), traced_line("b", parent(2)), traced_line("old", None)]
    )
    async with rig.forwarder(batch_size=2):
        await until(lambda: len(rig.receiver.event_ids()) == 3)
    first, second = rig.receiver.delivered
    assert first.headers["traceparent"] == parent(1)  # a batch goes in its first record's trace
    # Journaled before records kept a trace: the forward starts one of its own (not sampled).
    started, caused = parse(second.headers["traceparent"]), parse(parent(1))
    assert started is not None and caused is not None and not started.sampled
    assert started.trace_id != caused.trace_id


async def test_with_tracing_on_a_forward_is_a_span_of_its_first_records_trace(rig: Rig) -> None:
    with OtlpReceiver() as otlp:
        tracing = OtelTracing(OtelSettings(endpoint=otlp.url))
        await rig.journal.append([traced_line("a", parent(1)), traced_line("b", parent(2))])
        settings = RouterSettings(url=rig.receiver.url, batch_size=2, timeout_seconds=1.0)
        async with Forwarder(
            rig.journal, rig.store, settings, rig.metrics, INSTANCE, tracing=tracing
        ):
            await until(lambda: len(rig.receiver.event_ids()) == 2)
        await tracing.aclose()
    (span,) = otlp.named("router forward")
    assert (span.trace_id, span.parent_span_id) == (f"{1:032x}", f"{1:016x}")
    assert span.links == ((f"{2:032x}", f"{2:016x}"),)
    assert span.attributes["signals.records"] == 2
    assert rig.receiver.delivered[0].headers["traceparent"] == span.traceparent_prefix + "01"
