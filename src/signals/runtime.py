"""The composition root: every resource opened once, and closed in order (`serve` runs it).

    open:  tracing (when on) -> Redis (the one client) -> windows -> store -> journal (torn tail
           repaired) -> catch-up into the store -> idempotency warm-up -> alert dispatcher,
           detection, consumer, router forwarder, store upkeep -> both servers
           (journal.backend = "jetstream": `signals.streamed` opens the stream instead, and its
           consumers feed the store and the router; no catch-up, no checkpoint rows)
    close: servers stop accepting and finish in-flight requests -> journal flushed and closed
           -> consumer drains the queue into the store -> background workers -> store -> Redis
           -> tracing (its last spans exported)

Each resource has one owner, this module: it opens the Redis client and lends it to the windows,
the episodes shared across instances and the auth limiter, and it starts and stops the alert
dispatcher that detection wakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import redis.asyncio
import structlog
from starlette.applications import Starlette

from signals.accept.backlog import Backlog
from signals.accept.idempotency import IdempotencyIndex
from signals.accept.intake import Intake
from signals.accept.pipeline import Pipeline
from signals.auth.wiring import guards_for, sees_details
from signals.errors import FilesUnusable
from signals.ingest.app import build_ingest_app
from signals.ingest.forwarder import Forwarder
from signals.ingest.history import SignalHistory
from signals.ingest.stream_forwarder import StreamForwarder
from signals.integrity.alerts.dispatcher import AlertDispatcher
from signals.integrity.app import build_integrity_app
from signals.integrity.consumer import Consumer
from signals.integrity.consumer import checkpoint_name as store_checkpoint
from signals.integrity.detection import Detection
from signals.integrity.episodes.redis_state import SharedEpisodes
from signals.integrity.handoff import Handoff
from signals.integrity.history import AnomalyHistory
from signals.integrity.windows.base import Windows
from signals.integrity.windows.factory import open_windows
from signals.journal import START, Journal
from signals.journal.interface import JournalBackend, LocalJournal
from signals.journals import open_forwarder, open_local
from signals.metrics import Metrics
from signals.probes import Probes
from signals.redis_client import open_redis
from signals.sentiment import Classifier
from signals.settings import Settings
from signals.store.base import Store
from signals.store.factory import open_store
from signals.store.failures import is_store_failure
from signals.store.upkeep import StoreUpkeep
from signals.streamed import Streamed, open_streamed
from signals.tracing.base import Tracing
from signals.tracing.otel import open_tracing

log = structlog.get_logger(__name__)

DATA_DIR_MODE = 0o700
# Below the probes' own limit, so a store that hangs reads as degraded rather than failed.
STORE_CHECK_SECONDS = 1.5

# The dashboard is package data: pip installs a wheel's files on disk, where StaticFiles reads them.
WEB_DIR = Path(str(resources.files("signals") / "web"))


def instance_id(data_dir: Path) -> str:
    """A stable id for this data directory: names its checkpoints in a shared store."""
    path = data_dir / "instance_id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = uuid.uuid4().hex[:12]
        try:
            path.write_text(value + "\n")
            path.chmod(0o600)  # like the rest of data_dir: the owner's only
        except OSError as exc:
            raise FilesUnusable(f"cannot write {path}: {exc.strerror or exc}") from None
        return value


def build_detection(
    settings: Settings,
    store: Store,
    windows: Windows,
    dispatcher: AlertDispatcher,
    metrics: Metrics,
    *,
    redis_client: redis.asyncio.Redis | None,
) -> Detection:
    """Detection as `serve` runs it: with Redis, its episodes are shared across instances."""
    shared = None
    if redis_client is not None:
        shared = SharedEpisodes(
            redis_client, settings.redis.key_prefix, settings.windows.seconds,
            settings.windows.ttl_seconds,
        )  # fmt: skip
    return Detection(
        settings=settings, store=store, windows=windows, dispatcher=dispatcher, metrics=metrics,
        shared=shared,
    )  # fmt: skip


@dataclass
class Services:
    """Everything the apps and the supervisor need, opened and closed by `open_services`."""

    settings: Settings
    metrics: Metrics
    store: Store
    journal: JournalBackend
    local: Journal | None  # the local journal, None on JetStream
    windows: Windows
    consumer: Consumer
    forwarder: Forwarder | StreamForwarder | None
    tracing: Tracing
    ingest_app: Starlette
    integrity_app: Starlette


async def _open_windows(
    settings: Settings, metrics: Metrics, stack: contextlib.AsyncExitStack
) -> tuple[redis.asyncio.Redis | None, Windows]:
    """The process's Redis client (None without Redis windows) and the windows on it."""
    client = None
    if settings.windows.backend == "redis":
        client = await open_redis(settings.redis)
        stack.push_async_callback(client.aclose)
    windows = await open_windows(settings, metrics, client)
    stack.push_async_callback(windows.aclose)
    return client, windows


def _data_dir(settings: Settings) -> Path:
    data_dir = settings.data_path
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # The journal and the SQLite file hold users' texts: the owner's only.
        data_dir.chmod(DATA_DIR_MODE)
    except OSError as exc:
        raise FilesUnusable(f"cannot create data_dir {data_dir}: {exc.strerror or exc}") from None
    return data_dir


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    data_dir = _data_dir(settings)
    metrics = Metrics()
    instance = instance_id(data_dir)
    async with contextlib.AsyncExitStack() as stack:
        tracing = open_tracing(settings.otel)
        stack.push_async_callback(tracing.aclose)  # last: it exports the spans of the close
        # Redis first: an unreachable Redis fails the start before the store or journal opens.
        redis_client, windows = await _open_windows(settings, metrics, stack)
        store = await open_store(settings)
        stack.push_async_callback(store.aclose)

        handoff = Handoff()
        backlog = Backlog(settings.ingest.queue_size)
        local: Journal | None = None
        streamed: Streamed | None = None
        position = START
        journal: JournalBackend
        if settings.journal.backend == "jetstream":
            streamed = await open_streamed(
                settings, stack, handoff=handoff, backlog=backlog, instance=instance
            )
            journal = streamed
        else:
            local, position = await open_local(
                settings, metrics, store, handoff, instance, stack=stack,
                tracing=tracing,
            )  # fmt: skip
            journal = LocalJournal(local)

        index = await _warm_index(settings, store)

        dispatcher = AlertDispatcher(store, settings.alerts, metrics, tracing=tracing)
        await dispatcher.start()
        stack.push_async_callback(dispatcher.aclose)
        detection = build_detection(
            settings, store, windows, dispatcher, metrics, redis_client=redis_client
        )
        await detection.restore()

        consumer = Consumer(
            handoff=handoff,
            store=store,
            backlog=backlog,
            metrics=metrics,
            checkpoint_name=store_checkpoint(instance) if local else None,
            batch_max=settings.store.batch_max,
            detection=detection,
            on_stored=lambda records: index.stored(record.event_id for record in records),
            tracing=tracing,
        )
        consumer.position = position
        if local is not None:
            local.register_consumer("store", lambda: consumer.position)
        forwarder = await open_forwarder(
            settings, metrics, store, local or streamed, instance, stack=stack,
            tracing=tracing,
        )  # fmt: skip
        if local is not None:
            local.unregister_consumer("opening")

        pipeline = Pipeline(
            journal=journal,
            # On JetStream the stream is the backlog: only what the store feed pulled waits here.
            backlog=backlog if local else None,
            index=index,
            store=store,
            metrics=metrics,
            queue_wait_seconds=settings.ingest.queue_wait_seconds,
        )
        ingest_app, integrity_app = _build_apps(
            settings=settings, metrics=metrics, pipeline=pipeline, store=store,
            checks=_readiness_checks(
                journal=journal, store=store, windows=windows, consumer=consumer,
                backlog=backlog, forwarder=forwarder,
            ),
            redis=redis_client, tracing=tracing,
        )  # fmt: skip

        # Derived rollups and retention, in small steps beside ingest; stopped before the store.
        await stack.enter_async_context(StoreUpkeep(store, settings.store.retention_days))
        consumer_task = asyncio.create_task(consumer.run(), name="store-consumer")

        async def drain_consumer() -> None:
            # Runs after the journal is closed (pushed later, popped earlier): nothing new can
            # arrive, so the close sentinel is the last item and everything before it is stored.
            handoff.close()
            try:
                async with asyncio.timeout(settings.server.shutdown_timeout_seconds):
                    await asyncio.shield(consumer_task)
            except TimeoutError:
                # A store that will not answer must not hold the exit forever: the events are
                # in the fsynced journal and are stored by the catch-up at the next start.
                log.warning("store consumer did not drain in time", backlog=backlog.used)
                consumer_task.cancel()
                await asyncio.gather(consumer_task, return_exceptions=True)

        stack.push_async_callback(drain_consumer)
        yield Services(
            settings=settings,
            metrics=metrics,
            store=store,
            journal=journal,
            local=local,
            windows=windows,
            consumer=consumer,
            forwarder=forwarder,
            tracing=tracing,
            ingest_app=ingest_app,
            integrity_app=integrity_app,
        )
        # Close order (reverse of the pushes): consumer drain needs the journal closed first.
        await journal.aclose()


async def _warm_index(settings: Settings, store: Store) -> IdempotencyIndex:
    index = IdempotencyIndex(settings.ingest.dedupe_max_ids, settings.ingest.dedupe_horizon_seconds)
    async for event_ids in store.recent_event_ids(settings.ingest.dedupe_max_ids):
        index.warm(event_ids)
    return index


def _build_apps(
    *,
    settings: Settings,
    metrics: Metrics,
    pipeline: Pipeline,
    store: Store,
    checks: dict[str, Any],
    redis: redis.asyncio.Redis | None,
    tracing: Tracing,
) -> tuple[Starlette, Starlette]:
    intake = Intake(
        pipeline=pipeline,
        classifier=Classifier(settings.sentiment),
        settings=settings.ingest,
        metrics=metrics,
    )
    probes = Probes(metrics=metrics, checks=checks, sees_details=sees_details(settings))
    guards = guards_for(settings, metrics, redis)
    cors = settings.auth.cors_origins
    ingest_app = build_ingest_app(
        intake=intake, history=SignalHistory(store), probes=probes, metrics=metrics,
        web_dir=WEB_DIR, limits=settings.ingest, cors_origins=cors, guards=guards,
        tracing=tracing,
    )  # fmt: skip
    integrity_app = build_integrity_app(
        intake=intake, history=AnomalyHistory(store), probes=probes, metrics=metrics,
        limits=settings.ingest, cors_origins=cors, guards=guards, tracing=tracing,
    )  # fmt: skip
    return ingest_app, integrity_app


def _readiness_checks(
    *,
    journal: JournalBackend,
    store: Store,
    windows: Windows,
    consumer: Consumer,
    backlog: Backlog,
    forwarder: Forwarder | StreamForwarder | None,
) -> dict[str, Any]:
    async def journal_check() -> dict[str, Any]:
        await journal.check()
        return {"status": "ok"}

    async def store_check() -> dict[str, Any]:
        # Degraded, not failed: ingest goes on without the store (the journal keeps every event
        # for it), so a load balancer must keep sending events while queries answer 503.
        try:
            async with asyncio.timeout(STORE_CHECK_SECONDS):
                await store.ping()
        except Exception as exc:
            if not is_store_failure(exc):
                raise
            return {"status": "degraded", "error": f"{type(exc).__name__}: {exc}"}
        return {"status": "ok"}

    async def windows_check() -> dict[str, Any]:
        return {"status": windows.status, "backend": type(windows).__name__}

    async def consumer_check() -> dict[str, Any]:
        lag = consumer.lag_seconds()
        full = backlog.used >= backlog.capacity
        return {
            "status": "degraded" if full or lag > 5 else "ok",
            "lag_seconds": round(lag, 3),
            "backlog": backlog.used,
            "capacity": backlog.capacity,
        }

    checks: dict[str, Any] = {
        "journal": journal_check,
        "store": store_check,
        "windows": windows_check,
        "consumer": consumer_check,
    }
    if forwarder is not None:

        async def router_check() -> dict[str, Any]:
            return forwarder.readiness()

        checks["router"] = router_check
    return checks
