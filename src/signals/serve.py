"""The supervisor: both servers in one loop over the services `runtime.open_services` opens.

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
from collections.abc import Iterator

import structlog
import uvicorn
from starlette.applications import Starlette

from signals.errors import PortUnavailable
from signals.runtime import open_services
from signals.settings import Settings

log = structlog.get_logger(__name__)


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
            raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None


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
