"""Fixtures for the several-instances tests: a real Redis and a real PostgreSQL.

`redis_url` is `REDIS_URL` or a redis-server of this session's own; `pg_url` is a fresh schema
on the PostgreSQL that `SIGNALS_TEST_POSTGRES` names (tests that need it are skipped, saying
why, where none answers). Each test keeps to its own Redis key prefix, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.support.postgres_server import skip_reason, temporary_schema
from tests.support.redis_server import drop_keys, running_redis, unique_prefix


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    name = unique_prefix()
    yield name
    await drop_keys(redis_url, name)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    reason = await skip_reason()
    if reason is not None:
        pytest.skip(reason)
    async with temporary_schema() as url:
        yield url
