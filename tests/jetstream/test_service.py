"""The service on the JetStream journal, in-process: what is acknowledged is stored and
forwarded, and a retry sent to another instance is the duplicate it is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from tests.conftest import Live, live_service, settings_for
from tests.durability.router_receiver import RouterReceiver

from signals.jetstream.layout import partition_of, subject
from signals.settings import JournalSettings, Settings


def streamed_settings(
    tmp_path: Path, journal: JournalSettings, name: str, **environ: str
) -> Settings:
    return settings_for(
        tmp_path / name,
        journal__backend="jetstream",
        journal__url=str(journal.url),
        journal__stream=journal.stream,
        journal__partitions=str(journal.partitions),
        journal__timeout_seconds="2.0",
        journal__ack_wait_seconds="2.0",
        journal__lease_seconds="3.0",
        **environ,
    )


async def until(condition: Callable[[], Any], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.05)


async def stored_ids(live: Live) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (await live.ingest.get("/v1/signals", params=params)).json()
        found |= {item["event_id"] for item in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            return found


@pytest.fixture
def on_jetstream(tmp_path: Path, journal: JournalSettings) -> Iterator[Callable[..., Settings]]:
    def make(name: str, **environ: str) -> Settings:
        return streamed_settings(tmp_path, journal, name, **environ)

    yield make


async def test_acknowledged_events_are_stored_from_the_stream(
    on_jetstream: Callable[..., Settings],
) -> None:
    async with live_service(on_jetstream("a")) as live:
        assert live.services.local is None
        assert not (live.services.settings.data_path / "journal").exists()
        sent = []
        for i in range(30):
            answer = await live.ingest.post(
                "/v1/log", json={"user_id": f"u-{i % 5}", "signal_type": "chat", "text": "ok"}
            )
            assert answer.status_code == 202
            sent.append(answer.json()["event_id"])
        batch = await live.ingest.post(
            "/v1/log/batch", json=[{"user_id": "b", "signal_type": "chat"} for _ in range(50)]
        )
        assert batch.status_code == 202
        sent += batch.json()["event_ids"]

        async def all_stored() -> bool:
            return await stored_ids(live) == set(sent)

        await until(all_stored)
        ready = (await live.ingest.get("/ready")).json()
        assert ready["checks"]["journal"]["status"] == "ok"
        # The checkpoint is the consumers' ack floor: no row in the store.
        instance = (live.services.settings.data_path / "instance_id").read_text().strip()
        assert await live.services.store.checkpoint(f"store:{instance}") is None


async def test_a_retry_to_another_instance_is_a_duplicate_with_the_first_answer(
    on_jetstream: Callable[..., Settings],
) -> None:
    event = {"event_id": "evt-retried", "user_id": "u-1", "signal_type": "chat", "text": "great!"}
    async with live_service(on_jetstream("a")) as first, live_service(on_jetstream("b")) as second:
        original = await first.ingest.post("/v1/log", json=event)
        assert original.status_code == 202
        assert original.json()["duplicate"] is False
        retried = await second.ingest.post("/v1/log", json=event)
        assert retried.status_code == 200
        assert retried.json() == {**original.json(), "duplicate": True}
        again = await second.ingest.post("/v1/log", json=event)  # now known locally too
        assert again.json() == retried.json()
        batch = await second.ingest.post(
            "/v1/log/batch", json=[event, {**event, "event_id": "evt-new"}]
        )
        assert batch.json()["duplicates"] == 1
        assert batch.json()["accepted"] == 1

        async def stored_once() -> bool:
            return await stored_ids(first) == {"evt-retried", "evt-new"}

        await until(stored_once)
        rows = (await first.ingest.get("/v1/signals", params={"user_id": "u-1"})).json()
        assert [row["received_at"] for row in rows["items"]].count(
            original.json()["received_at"]
        ) == 1


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[RouterReceiver]:
    async with RouterReceiver() as receiver:
        await receiver.up()
        yield receiver


async def test_two_instances_forward_everything_once_a_user_in_order(
    on_jetstream: Callable[..., Settings],
) -> None:
    async with receiving() as router:
        settings = [on_jetstream(name, router__url=router.url) for name in ("a", "b")]
        async with live_service(settings[0]) as a, live_service(settings[1]) as b:
            sent: dict[str, list[str]] = {}
            for i in range(60):
                user = f"user-{i % 6}"
                target = a if i % 2 else b
                answer = await target.ingest.post(
                    "/v1/log", json={"user_id": user, "signal_type": "chat"}
                )
                sent.setdefault(user, []).append(answer.json()["event_id"])

            async def all_forwarded() -> bool:
                return set(router.event_ids()) >= {e for ids in sent.values() for e in ids}

            await until(all_forwarded)
            got: dict[str, list[str]] = {}
            for delivery in router.delivered:
                for item in delivery.records():
                    ids = got.setdefault(str(item["user_id"]), [])
                    if item["event_id"] not in ids:
                        ids.append(str(item["event_id"]))
            assert got == sent
            forwarding = (await a.ingest.get("/ready")).json()["checks"]["router"]
            assert forwarding["status"] == "ok"


async def test_a_message_that_is_not_a_record_is_skipped_not_forwarded_or_stuck_on(
    on_jetstream: Callable[..., Settings], journal: JournalSettings
) -> None:
    # Something else published to a partition's subject: the store feed and the router
    # forwarder skip it and go on with the records after it, in the same partition.
    async with receiving() as router, live_service(on_jetstream("a", router__url=router.url)) as a:
        client = await nats.connect(str(journal.url))
        try:
            partition = partition_of("user-x", journal.partitions)
            await client.jetstream().publish(subject(journal.stream, partition), b"not a record")
        finally:
            await client.close()
        answer = await a.ingest.post("/v1/log", json={"user_id": "user-x", "signal_type": "chat"})
        sent = answer.json()["event_id"]

        async def forwarded_and_stored() -> bool:
            return sent in router.event_ids() and sent in await stored_ids(a)

        await until(forwarded_and_stored)
        assert router.event_ids() == [sent]
        assert (await a.ingest.get("/ready")).json()["checks"]["router"]["status"] == "ok"
