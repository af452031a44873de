"""A real PostgreSQL for tests: a fresh schema per test on the server `SIGNALS_TEST_POSTGRES`
names (default: the local one, trust auth, user postgres).

`temporary_schema()` creates `signals_test_<uuid>` in the admin URL's database and yields a URL
whose `search_path` is that schema alone (asyncpg passes unknown URL parameters to the server as
settings), so a store opened on it sees nothing else; the schema is dropped afterwards. A schema
costs milliseconds where a database costs about a second. `skip_reason()` says why tests that
need PostgreSQL cannot run here, or None when the server answers; in CI (`CI=true`) it fails the
test instead of returning a reason, so a CI run without PostgreSQL is red, not silently skipped.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest
from tests.support.ci import in_ci

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_reachable: dict[str, str | None] = {}


def admin_url() -> str:
    return os.environ.get("SIGNALS_TEST_POSTGRES", DEFAULT_ADMIN_URL)


def schema_url(schema: str, admin: str | None = None) -> str:
    """The admin URL with `search_path` set to `schema`."""
    parts = urlsplit(admin or admin_url())
    query = dict(parse_qsl(parts.query))
    query["search_path"] = schema
    return urlunsplit(parts._replace(query=urlencode(query)))


async def skip_reason() -> str | None:
    """None when PostgreSQL answers at the admin URL (asked once per process), else why not;
    under CI the test fails right here instead."""
    url = admin_url()
    if url not in _reachable:
        try:
            conn = await asyncpg.connect(url, timeout=3)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            _reachable[url] = (
                f"needs PostgreSQL at {url}: apt-get install postgresql, "
                "or set SIGNALS_TEST_POSTGRES"
            )
        else:
            await conn.close()
            _reachable[url] = None
    reason = _reachable[url]
    if reason is not None and in_ci():
        pytest.fail(f"{reason} (CI=true: a PostgreSQL test that cannot run fails)", pytrace=False)
    return reason


@asynccontextmanager
async def temporary_schema() -> AsyncIterator[str]:
    """A new, empty schema for the block; yields a URL that uses it."""
    name = f"signals_test_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(admin_url(), timeout=10)
    try:
        await admin.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield schema_url(name)
        finally:
            await asyncio.shield(admin.execute(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        await admin.close()


def free_port_url(template: str) -> str:
    """`template` with `{port}` filled by a port on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return template.format(port=port)
