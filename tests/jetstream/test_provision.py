"""The stream and its consumers are made when missing; a stream or server that does not fit is
refused at start with a message that says what differs and what to do."""

from __future__ import annotations

import shutil

import msgspec
import pytest
from nats.aio.client import Client as NATS
from tests.support.nats_server import NatsServer, server_version

from signals.errors import DependencyUnavailable, StreamRefused
from signals.jetstream.connection import connect, sync_warnings
from signals.jetstream.layout import PARTITIONS_KEY, consumer_name
from signals.jetstream.provision import ensure_consumers, ensure_stream
from signals.settings import JournalSettings


async def provision(settings: JournalSettings) -> None:
    client = await connect(settings)
    try:
        await ensure_stream(client.jetstream(), settings)
    finally:
        await client.close()


async def test_a_missing_stream_and_its_consumers_are_created(
    journal: JournalSettings, client: NATS
) -> None:
    await provision(journal)
    js = client.jetstream()
    info = await js.stream_info(journal.stream)
    assert info.config.subjects == [f"{journal.stream}.events.*"]
    assert info.config.duplicate_window == journal.dedupe_window_seconds
    assert (info.config.metadata or {})[PARTITIONS_KEY] == str(journal.partitions)
    await ensure_consumers(js, journal, "store")
    for partition in range(journal.partitions):
        consumer = await js.consumer_info(journal.stream, consumer_name("store", partition))
        assert consumer.config.filter_subject == f"{journal.stream}.events.{partition}"
        assert consumer.config.ack_wait == journal.ack_wait_seconds
    await provision(journal)  # a second start finds them as they are: no complaint
    await ensure_consumers(js, journal, "store")
    # A new ack wait is applied; where a consumer starts is kept.
    slower = msgspec.structs.replace(journal, ack_wait_seconds=7.0)
    await ensure_consumers(js, slower, "store")
    consumer = await js.consumer_info(journal.stream, consumer_name("store", 0))
    assert consumer.config.ack_wait == 7.0


async def test_a_stream_with_other_settings_is_refused_naming_each_difference(
    journal: JournalSettings,
) -> None:
    await provision(journal)
    other = msgspec.structs.replace(journal, partitions=8, dedupe_window_seconds=60.0)
    with pytest.raises(StreamRefused) as refused:
        await provision(other)
    message = str(refused.value)
    assert journal.stream in message
    assert "partitions: ours 8, the stream's 4" in message
    assert "duplicate_window seconds: ours 60.0, the stream's 3600.0" in message


async def test_more_replicas_than_servers_is_refused(journal: JournalSettings) -> None:
    with pytest.raises(StreamRefused, match="replicas 3"):
        await provision(msgspec.structs.replace(journal, replicas=3))


async def test_a_server_without_jetstream_is_refused() -> None:
    with NatsServer("plain", jetstream=False) as server:
        settings = JournalSettings(backend="jetstream", url=server.url, timeout_seconds=2.0)
        with pytest.raises(StreamRefused, match="has no JetStream"):
            await connect(settings)


async def test_no_server_is_a_dependency_unavailable_naming_the_url() -> None:
    settings = JournalSettings(
        backend="jetstream", url="nats://app:secret@127.0.0.1:1", timeout_seconds=1.0
    )
    with pytest.raises(DependencyUnavailable) as refused:
        await connect(settings)
    assert "nats://app:***@127.0.0.1:1" in str(refused.value)
    assert "secret" not in str(refused.value)


async def test_a_server_older_than_2_10_is_refused() -> None:
    debian = shutil.which("nats-server", path="/usr/sbin:/usr/bin")
    if debian is None or server_version(debian) >= (2, 10):
        pytest.skip("no nats-server older than 2.10 on this machine")
    with NatsServer("old", executable=debian, sync_always=False) as server:
        settings = JournalSettings(backend="jetstream", url=server.url, timeout_seconds=2.0)
        with pytest.raises(StreamRefused, match=r"older than 2\.10"):
            await connect(settings)


async def test_servers_that_do_not_sync_every_write_are_named_at_start() -> None:
    with (
        NatsServer("lazy", sync_always=False) as lazy,
        NatsServer("careful", sync_always=True) as careful,
    ):
        settings = JournalSettings(
            backend="jetstream", monitoring_url=[lazy.monitor_url, careful.monitor_url]
        )
        warnings = await sync_warnings(settings)
    assert len(warnings) == 1
    assert lazy.monitor_url in warnings[0]
    assert "fsyncs every 120 s" in warnings[0]  # the default sync_interval: 2 min


async def test_the_operator_can_state_the_sync_setting() -> None:
    assert await sync_warnings(JournalSettings(server_sync="always")) == []
    (warning,) = await sync_warnings(JournalSettings(server_sync="interval"))
    assert "acknowledge before they fsync" in warning
