"""Appending to the JetStream journal: a message per record on its user's partition, ids once."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
from nats.aio.client import Client as NATS
from tests.support.nats_server import NatsServer

from signals.errors import JournalClosed, JournalUnavailable
from signals.events import Record, record_decoder
from signals.jetstream.connection import connect
from signals.jetstream.journal import MSG_ID, StreamJournal
from signals.jetstream.layout import partition_of, subject
from signals.jetstream.provision import ensure_stream
from signals.settings import JournalSettings

encode = msgspec.json.Encoder().encode


def record(
    user_id: str, event_id: str | None = None, received_at: str = "2025-01-01T00:00:00Z"
) -> Record:
    return Record(
        event_id=event_id or uuid.uuid4().hex, user_id=user_id, signal_type="chat",
        received_at=received_at, sentiment="neutral", sentiment_cues=[], request_id="r",
    )  # fmt: skip


async def opened(settings: JournalSettings) -> tuple[NATS, StreamJournal]:
    client = await connect(settings)
    await ensure_stream(client.jetstream(), settings)
    return client, StreamJournal(client, settings)


async def append(journal: StreamJournal, records: list[Record]) -> dict[int, bytes]:
    appended = await journal.append([encode(r) for r in records], records)
    return dict(appended.earlier)


async def test_each_record_is_a_message_on_its_users_partition(
    journal: JournalSettings, client: NATS
) -> None:
    connection, stream = await opened(journal)
    try:
        records = [record(f"user-{i}") for i in range(20)]
        assert await append(stream, records) == {}
        js = client.jetstream()
        for sequence, sent in enumerate(records, start=1):
            stored = await js.get_msg(journal.stream, sequence)
            assert stored.subject == subject(
                journal.stream, partition_of(sent.user_id, journal.partitions)
            )
            assert stored.headers is not None and stored.headers[MSG_ID] == sent.event_id
            assert stored.data is not None and record_decoder.decode(stored.data) == sent
    finally:
        await connection.close()


async def test_an_id_sent_again_through_another_connection_is_stored_once(
    journal: JournalSettings, client: NATS
) -> None:
    first_connection, first = await opened(journal)
    second_connection, second = await opened(journal)
    try:
        original = record("u-1", "evt-1", received_at="2025-01-01T00:00:00Z")
        retry = record("u-1", "evt-1", received_at="2025-01-01T00:00:09Z")
        other = record("u-2", "evt-2")
        assert await append(first, [original]) == {}
        earlier = await append(second, [other, retry])
        assert list(earlier) == [1]
        assert record_decoder.decode(earlier[1]) == original  # the copy kept: the first
        info = await client.jetstream().stream_info(journal.stream)
        assert info.state.messages == 2
    finally:
        await first_connection.close()
        await second_connection.close()


def test_partitions_are_fixed_values_not_a_salted_hash() -> None:
    # Every instance, process and version must put a user in the same partition: these values
    # are crc32's, and Python's own `hash` of a str changes with each process.
    assert [partition_of(user, 16) for user in ("alice", "bob", "u-1", "")] == [7, 0, 12, 0]


async def test_appends_are_refused_once_closed(journal: JournalSettings) -> None:
    connection, stream = await opened(journal)
    try:
        await stream.aclose()
        with pytest.raises(JournalClosed):
            await append(stream, [record("u")])
    finally:
        await connection.close()


async def test_a_lost_server_refuses_appends_and_readiness_until_it_is_back(
    journal: JournalSettings,
) -> None:
    with NatsServer("lonely") as server:
        settings = msgspec.structs.replace(journal, url=server.url)
        connection, stream = await opened(settings)
        try:
            await append(stream, [record("u", "before")])
            server.kill()
            async with asyncio.timeout(10):
                while connection.is_connected:
                    await asyncio.sleep(0.02)
            with pytest.raises(JournalUnavailable):
                await append(stream, [record("u", "during")])
            with pytest.raises(JournalUnavailable):
                await stream.check()
            server.start()  # same port, same store directory
            async with asyncio.timeout(20):
                while not connection.is_connected:
                    await asyncio.sleep(0.05)
            await stream.check()
            await append(stream, [record("u", "after")])
            info = await connection.jetstream().stream_info(settings.stream)
            assert info.state.messages == 2  # "before" survived the kill (sync always)
        finally:
            await connection.close()
