"""The composition root: every resource opened once, both servers in one loop, ordered shutdown.

    open:  windows (Redis) -> store -> journal (torn tail repaired) -> catch-up into the store
           -> idempotency warm-up -> consumer, alert dispatcher, router forwarder, store upkeep
           -> both servers
    close: servers stop accepting and finish in-flight requests -> journal flushed and closed
           -> consumer drains the queue into the store -> background workers -> windows -> store

The supervisor owns SIGINT/SIGTERM: uvicorn's servers install no handlers of their own (it would
re-raise the signal after its shutdown and skip ours). A second signal forces a fast exit, which
still loses nothing acknowledged: every acknowledged event is already in the fsynced journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette

from signals.accept.backlog import Backlog
from signals.accept.idempotency import IdempotencyIndex
from signals.accept.intake import Intake
from signals.accept.pipeline import Handoff, Pipeline
from signals.auth.wiring import guards_for
from signals.ingest.app import build_ingest_app
from signals.ingest.forwarder import Forwarder
from signals.ingest.forwarder import checkpoint_name as router_checkpoint
from signals.ingest.history import SignalHistory
from signals.integrity.app import build_integrity_app
from signals.integrity.consumer import Consumer, catch_up
from signals.integrity.detection import build_detection
from signals.integrity.history import AnomalyHistory
from signals.integrity.windows.base import Windows
from signals.integrity.windows.factory import open_windows
from signals.journal import START, Journal
from signals.metrics import Metrics
from signals.probes import Probes
from signals.sentiment import Classifier
from signals.settings import Settings
from signals.store.base import Store
from signals.store.factory import open_store
from signals.store.upkeep import StoreUpkeep

log = structlog.get_logger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def instance_id(data_dir: Path) -> str:
    """A stable id for this data directory: names its checkpoints in a shared store."""
    path = data_dir / "instance_id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = uuid.uuid4().hex[:12]
        path.write_text(value + "\n")
        return value


@dataclass
class Services:
    """Everything the apps and the supervisor need, opened and closed by `open_services`."""

    settings: Settings
    metrics: Metrics
    store: Store
    journal: Journal
    windows: Windows
    consumer: Consumer
    forwarder: Forwarder | None
    ingest_app: Starlette
    integrity_app: Starlette


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    data_dir = settings.data_path
    data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    checkpoint = f"store:{instance_id(data_dir)}"
    async with contextlib.AsyncExitStack() as stack:
        # Redis first: an unreachable Redis fails the start before any file is touched.
        windows = await open_windows(settings, metrics)
        stack.push_async_callback(windows.aclose)
        store = await open_store(settings)
        stack.push_async_callback(store.aclose)

        # Retention's first pass runs as soon as the journal opens, before the consumers below
        # register their positions: until they do, hold what their saved checkpoints still need.
        names = [checkpoint]
        if settings.router.url:
            names.append(router_checkpoint(instance_id(data_dir)))
        held = min([await store.checkpoint(name) or START for name in names])
        handoff = Handoff()
        journal = await Journal.open(
            data_dir / "journal", settings.journal, on_commit=handoff.on_commit, metrics=metrics
        )
        journal.register_consumer("opening", lambda: held)  # no await before this line
        stack.push_async_callback(journal.aclose)
        position, _ = await catch_up(journal.read, store, checkpoint, settings.store.batch_max)

        index = IdempotencyIndex(
            settings.ingest.dedupe_max_ids, settings.ingest.dedupe_horizon_seconds
        )
        index.warm(await store.recent_event_ids(settings.ingest.dedupe_max_ids))

        detection = await build_detection(settings, store, windows, metrics)
        await stack.enter_async_context(detection)

        backlog = Backlog(settings.ingest.queue_size)
        consumer = Consumer(
            handoff=handoff,
            store=store,
            backlog=backlog,
            metrics=metrics,
            checkpoint_name=checkpoint,
            batch_max=settings.store.batch_max,
            analyzer=detection,
        )
        consumer.position = position
        journal.register_consumer("store", lambda: consumer.position)

        forwarder: Forwarder | None = None
        if settings.router.url:
            forwarder = Forwarder(journal, store, settings.router, metrics, instance_id(data_dir))
            await stack.enter_async_context(forwarder)
        journal.unregister_consumer("opening")

        pipeline = Pipeline(
            journal=journal,
            backlog=backlog,
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
            redis=getattr(windows, "redis", None),
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
            windows=windows,
            consumer=consumer,
            forwarder=forwarder,
            ingest_app=ingest_app,
            integrity_app=integrity_app,
        )
        # Close order (reverse of the pushes): consumer drain needs the journal closed first.
        await journal.aclose()


def _build_apps(
    *,
    settings: Settings,
    metrics: Metrics,
    pipeline: Pipeline,
    store: Store,
    checks: dict[str, Any],
    redis: Any,
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
    journal: Journal,
    store: Store,
    windows: Windows,
    consumer: Consumer,
    backlog: Backlog,
    forwarder: Forwarder | None,
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


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the supervisor."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Starlette, host: str, port: int, settings: Settings) -> _Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        lifespan="off",
        access_log=False,
        server_header=False,
        proxy_headers=bool(settings.server.trusted_proxies),
        forwarded_allow_ips=list(settings.server.trusted_proxies) or None,
        timeout_graceful_shutdown=max(1, int(settings.server.shutdown_timeout_seconds) - 1),
        backlog=4096,
    )
    return _Server(config)


def _tune_garbage_collector() -> None:
    """Start-up objects (modules, the lexicon, warmed ids) go to the permanent generation, and
    young collections run less often: every request allocates many short-lived objects, and with
    the default thresholds full collections kept re-walking a large, static heap (a 22% CPU
    cost per event in the ingest benchmark)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def check_bindable(host: str, port: int) -> None:
    """Fail fast with the address in the message when a port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def serve(settings: Settings) -> None:
    """Run both servers until SIGINT/SIGTERM, then shut down in order."""
    check_bindable(settings.ingest.host, settings.ingest.port)
    check_bindable(settings.integrity.host, settings.integrity.port)
    loop = asyncio.get_running_loop()
    servers: list[_Server] = []
    received: list[int] = []

    def on_signal(signum: int) -> None:
        # Installed before anything opens: a signal during start-up (the journal catch-up can
        # take a while) ends the start cleanly instead of killing the process mid-way.
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            log.info("shutting down", signal=name)
        else:
            log.warning("second signal: forcing exit", signal=name)
        for server in servers:
            server.should_exit = True
            server.force_exit = len(received) > 1

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        async with open_services(settings) as services:
            servers += [
                _server(services.ingest_app, settings.ingest.host, settings.ingest.port, settings),
                _server(
                    services.integrity_app,
                    settings.integrity.host,
                    settings.integrity.port,
                    settings,
                ),
            ]
            if received:
                return
            log.info(
                "signals started",
                ingest=f"http://{settings.ingest.host}:{settings.ingest.port}",
                integrity=f"http://{settings.integrity.host}:{settings.integrity.port}",
                windows=settings.windows.backend,
                store=settings.store.backend,
                fsync=settings.journal.fsync,
            )
            _tune_garbage_collector()
            async with asyncio.TaskGroup() as group:
                for server in servers:
                    group.create_task(server.serve())
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        log.info("signals stopped")
