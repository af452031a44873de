"""The composition root: every resource opened once, and closed in order (`serve` runs it).

    open:  Redis (the one client) -> windows -> store -> journal (torn tail repaired) -> catch-up
           into the store -> idempotency warm-up -> alert dispatcher, detection, consumer,
           router forwarder -> both servers
           (journal.backend = "jetstream": `signals.streamed` opens the stream instead, and its
           consumers feed the store and the router; no catch-up, no checkpoint rows)
    close: servers stop accepting and finish in-flight requests -> journal flushed and closed
           -> consumer drains the queue into the store -> background workers -> store -> Redis

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
from pathlib import Path
from typing import Any

import redis.asyncio
import structlog
from starlette.applications import Starlette

from signals.accept.backlog import Backlog
from signals.accept.idempotency import IdempotencyIndex
from signals.accept.intake import Intake
from signals.accept.pipeline import Pipeline
from signals.auth.wiring import guards_for
from signals.errors import FilesUnusable
from signals.ingest.app import build_ingest_app
from signals.ingest.forwarder import Forwarder
from signals.ingest.forwarder import checkpoint_name as router_checkpoint
from signals.ingest.history import SignalHistory
from signals.ingest.stream_forwarder import StreamForwarder
from signals.integrity.alerts.dispatcher import AlertDispatcher
from signals.integrity.app import build_integrity_app
from signals.integrity.consumer import Consumer, catch_up
from signals.integrity.detection import Detection
from signals.integrity.episodes.redis_state import SharedEpisodes
from signals.integrity.handoff import Handoff
from signals.integrity.history import AnomalyHistory
from signals.integrity.windows.base import Windows
from signals.integrity.windows.factory import open_windows
from signals.journal import START, Journal, JournalPosition
from signals.journal.interface import JournalBackend, LocalJournal
from signals.metrics import Metrics
from signals.probes import Probes
from signals.redis_client import open_redis
from signals.sentiment import Classifier
from signals.settings import Settings
from signals.store.base import Store
from signals.store.factory import open_store
from signals.streamed import Streamed, open_streamed

log = structlog.get_logger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def instance_id(data_dir: Path) -> str:
    """A stable id for this data directory: names its checkpoints in a shared store."""
    path = data_dir / "instance_id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = uuid.uuid4().hex[:12]
        try:
            path.write_text(value + "\n")
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
    except OSError as exc:
        raise FilesUnusable(f"cannot create data_dir {data_dir}: {exc.strerror or exc}") from None
    return data_dir


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    data_dir = _data_dir(settings)
    metrics = Metrics()
    checkpoint = f"store:{instance_id(data_dir)}"
    async with contextlib.AsyncExitStack() as stack:
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
                settings, stack, handoff=handoff, backlog=backlog, instance=instance_id(data_dir)
            )
            journal = streamed
        else:
            local, position = await _open_local(settings, metrics, store, handoff, stack)
            journal = LocalJournal(local)

        index = await _warm_index(settings, store)

        dispatcher = AlertDispatcher(store, settings.alerts, metrics)
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
            checkpoint_name=checkpoint if local else None,
            batch_max=settings.store.batch_max,
            detection=detection,
        )
        consumer.position = position
        if local is not None:
            local.register_consumer("store", lambda: consumer.position)
        forwarder = await _open_forwarder(settings, metrics, store, local or streamed, stack)
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
            redis=redis_client,
        )  # fmt: skip

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
            ingest_app=ingest_app,
            integrity_app=integrity_app,
        )
        # Close order (reverse of the pushes): consumer drain needs the journal closed first.
        await journal.aclose()


async def _open_local(
    settings: Settings,
    metrics: Metrics,
    store: Store,
    handoff: Handoff,
    stack: contextlib.AsyncExitStack,
) -> tuple[Journal, JournalPosition]:
    """The local journal, caught up into the store; returns it and the store's position.

    Retention's first pass runs as soon as the journal opens, before the consumers register
    their positions: until they do (the caller unregisters "opening"), it holds what their
    saved checkpoints still need.
    """
    data_dir = settings.data_path
    checkpoint = f"store:{instance_id(data_dir)}"
    names = [checkpoint]
    if settings.router.url:
        names.append(router_checkpoint(instance_id(data_dir)))
    held = min([await store.checkpoint(name) or START for name in names])
    journal = await Journal.open(
        data_dir / "journal", settings.journal, on_commit=handoff.on_commit, metrics=metrics
    )
    journal.register_consumer("opening", lambda: held)  # no await before this line
    stack.push_async_callback(journal.aclose)
    position, _ = await catch_up(
        journal.read, store, checkpoint, settings.store.batch_max, data_dir / "journal"
    )
    return journal, position


async def _open_forwarder(
    settings: Settings,
    metrics: Metrics,
    store: Store,
    journal: Journal | Streamed | None,
    stack: contextlib.AsyncExitStack,
) -> Forwarder | StreamForwarder | None:
    """The router forwarder of the journal's kind, running; None without `router.url`."""
    forwarder: Forwarder | StreamForwarder
    if not settings.router.url or journal is None:
        return None
    if isinstance(journal, Journal):
        instance = instance_id(settings.data_path)
        forwarder = Forwarder(journal, store, settings.router, metrics, instance)
    else:
        forwarder = journal.forwarder(metrics)
    await stack.enter_async_context(forwarder)
    return forwarder


async def _warm_index(settings: Settings, store: Store) -> IdempotencyIndex:
    index = IdempotencyIndex(settings.ingest.dedupe_max_ids, settings.ingest.dedupe_horizon_seconds)
    index.warm(await store.recent_event_ids(settings.ingest.dedupe_max_ids))
    return index


def _build_apps(
    *,
    settings: Settings,
    metrics: Metrics,
    pipeline: Pipeline,
    store: Store,
    checks: dict[str, Any],
    redis: redis.asyncio.Redis | None,
) -> tuple[Starlette, Starlette]:
    intake = Intake(
        pipeline=pipeline,
        classifier=Classifier(settings.sentiment),
        settings=settings.ingest,
        metrics=metrics,
    )
    probes = Probes(metrics=metrics, checks=checks)
    guards = guards_for(settings, metrics, redis)
    cors = settings.auth.cors_origins
    ingest_app = build_ingest_app(
        intake=intake, history=SignalHistory(store), probes=probes, metrics=metrics,
        web_dir=WEB_DIR, limits=settings.ingest, cors_origins=cors, guards=guards,
    )  # fmt: skip
    integrity_app = build_integrity_app(
        intake=intake, history=AnomalyHistory(store), probes=probes, metrics=metrics,
        limits=settings.ingest, cors_origins=cors, guards=guards,
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
        await store.ping()
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
