"""The journal the settings choose, and the router forwarder of its kind (for `signals.runtime`).

`open_local` opens the segment journal in `data_dir/journal` and catches the store up from its
checkpoint before anything new is accepted; the JetStream journal is `signals.streamed`.
`open_forwarder` starts the forwarder that tails the local journal from its checkpoint, or the
one that reads the JetStream router consumers.
"""

from __future__ import annotations

import contextlib

from signals.ingest.forwarder import Forwarder
from signals.ingest.forwarder import checkpoint_name as router_checkpoint
from signals.ingest.stream_forwarder import StreamForwarder
from signals.integrity.consumer import catch_up
from signals.integrity.consumer import checkpoint_name as store_checkpoint
from signals.integrity.handoff import Handoff
from signals.journal import START, Journal, JournalPosition
from signals.metrics import Metrics
from signals.settings import Settings
from signals.store.base import Store
from signals.streamed import Streamed
from signals.tracing.base import Tracing


async def open_local(
    settings: Settings,
    metrics: Metrics,
    store: Store,
    handoff: Handoff,
    instance: str,
    *,
    stack: contextlib.AsyncExitStack,
    tracing: Tracing,
) -> tuple[Journal, JournalPosition]:
    """The local journal, caught up into the store; returns it and the store's position.

    Retention's first pass runs as soon as the journal opens, before the consumers register
    their positions: until they do (the caller unregisters "opening"), it holds what their
    saved checkpoints still need.
    """
    data_dir = settings.data_path
    checkpoint = store_checkpoint(instance)
    names = [checkpoint]
    if settings.router.url:
        names.append(router_checkpoint(instance))
    held = min([await store.checkpoint(name) or START for name in names])
    journal = await Journal.open(
        data_dir / "journal", settings.journal, on_commit=handoff.on_commit, metrics=metrics,
        on_group=tracing.journal_hook,
    )  # fmt: skip
    journal.register_consumer("opening", lambda: held)  # no await before this line
    stack.push_async_callback(journal.aclose)
    position, _ = await catch_up(
        journal.read, store, checkpoint, settings.store.batch_max, data_dir / "journal"
    )
    return journal, position


async def open_forwarder(
    settings: Settings,
    metrics: Metrics,
    store: Store,
    journal: Journal | Streamed | None,
    instance: str,
    *,
    stack: contextlib.AsyncExitStack,
    tracing: Tracing,
) -> Forwarder | StreamForwarder | None:
    """The router forwarder of the journal's kind, running; None without `router.url`."""
    forwarder: Forwarder | StreamForwarder
    if not settings.router.url or journal is None:
        return None
    if isinstance(journal, Journal):
        forwarder = Forwarder(journal, store, settings.router, metrics, instance, tracing=tracing)
    else:
        forwarder = journal.forwarder(metrics, tracing)
    await stack.enter_async_context(forwarder)
    return forwarder
