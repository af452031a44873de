"""The store contract suite: every test here runs against each backend in `BACKENDS`.

Tests ask for `store` (a freshly opened, empty store) or `open_store` (a factory that opens the
same database again, with options such as `batch_max`, for reopen and chunking tests). Adding a
backend means adding an opener below; the tests do not change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from signals.store.base import Store
from signals.store.sqlite import SqliteStore

StoreOpener = Callable[..., AbstractAsyncContextManager[Store]]


def _sqlite(tmp_path: Path) -> StoreOpener:
    @asynccontextmanager
    async def opener(**options: Any) -> AsyncIterator[Store]:
        async with await SqliteStore.open(tmp_path / "data" / "signals.db", **options) as store:
            yield store

    return opener


BACKENDS: dict[str, Callable[[Path], StoreOpener]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreOpener:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
async def store(open_store: StoreOpener) -> AsyncIterator[Store]:
    async with open_store() as opened:
        yield opened
