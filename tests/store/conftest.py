"""The store contract suite: every test here runs against each backend in `BACKENDS`.

Tests ask for `store` (a freshly opened, empty store) or `open_store` (a factory that opens the
same database again, with options such as `batch_max`, for reopen and chunking tests). Adding a
backend means adding an opener below; the tests do not change.

PostgreSQL runs on the server `SIGNALS_TEST_POSTGRES` names (default: the local one), each test
in a schema of its own, dropped afterwards. Where no server answers, only the postgres cases
are skipped, saying so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.support.postgres_server import skip_reason, temporary_schema

from signals.store.base import Store
from signals.store.postgres.store import PostgresStore
from signals.store.sqlite.store import SqliteStore

StoreOpener = Callable[..., AbstractAsyncContextManager[Store]]


@asynccontextmanager
async def _sqlite(tmp_path: Path) -> AsyncIterator[StoreOpener]:
    @asynccontextmanager
    async def opener(**options: Any) -> AsyncIterator[Store]:
        async with await SqliteStore.open(tmp_path / "data" / "signals.db", **options) as store:
            yield store

    yield opener


@asynccontextmanager
async def _postgres_schema() -> AsyncIterator[str]:
    reason = await skip_reason()
    if reason is not None:
        pytest.skip(reason)
    async with temporary_schema() as url:
        yield url


@asynccontextmanager
async def _postgres(tmp_path: Path) -> AsyncIterator[StoreOpener]:
    async with _postgres_schema() as url:

        @asynccontextmanager
        async def opener(**options: Any) -> AsyncIterator[Store]:
            async with await PostgresStore.open(url, **options) as store:
                yield store

        yield opener


BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[StoreOpener]]] = {
    "postgres": _postgres,
    "sqlite": _sqlite,
}


@pytest.fixture(
    params=[pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("sqlite")]
)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreOpener]:
    async with BACKENDS[request.param](tmp_path) as opener:
        yield opener


@pytest.fixture
async def store(open_store: StoreOpener) -> AsyncIterator[Store]:
    async with open_store() as opened:
        yield opened


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A URL of an empty PostgreSQL schema, for the tests of that backend alone."""
    async with _postgres_schema() as schema_url:
        yield schema_url
