"""Fixtures for the detection tests: a real Redis, and settings for either windows backend.

`windows_env` is the SIGNALS__-style overrides (as `settings_for` takes them) that select this
test's windows backend; a Redis backend gets a key prefix of its own, dropped after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.support.redis_server import drop_keys, running_redis, unique_prefix


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def windows_env(
    backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, str]]:
    if backend == "memory":
        yield {"WINDOWS__BACKEND": "memory"}
        return
    url = str(request.getfixturevalue("redis_url"))
    prefix = unique_prefix()
    yield {"WINDOWS__BACKEND": "redis", "REDIS__URL": url, "REDIS__KEY_PREFIX": prefix}
    await drop_keys(url, prefix)
