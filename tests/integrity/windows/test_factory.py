"""Opening the configured windows: memory, a reachable Redis, and a Redis that is not there."""

from __future__ import annotations

import pytest
from tests.integrity.windows.samples import BASE
from tests.support.redis_server import RedisProcess, drop_keys, free_port, unique_prefix

from signals.errors import DependencyUnavailable
from signals.integrity.windows.base import WindowEvent
from signals.integrity.windows.factory import open_windows
from signals.integrity.windows.fallback import FallbackWindows
from signals.integrity.windows.memory import MemoryWindows
from signals.metrics import Metrics
from signals.redis_client import open_redis
from signals.settings import RedisSettings, Settings, WindowsSettings
from signals.urls import masked_url


def redis_settings(url: str, prefix: str = "test") -> Settings:
    return Settings(
        windows=WindowsSettings(backend="redis"),
        redis=RedisSettings(url=url, key_prefix=prefix, timeout_seconds=0.5),
    )


async def test_memory_is_the_default_backend() -> None:
    windows = await open_windows(Settings(), Metrics())
    assert isinstance(windows, MemoryWindows)
    assert await windows.add([WindowEvent("u", "t", "e", BASE)]) == [1]
    await windows.aclose()


async def test_a_reachable_redis_gives_redis_windows_with_a_fallback(redis_url: str) -> None:
    prefix = unique_prefix()
    settings = redis_settings(redis_url, prefix)
    client = await open_redis(settings.redis)
    windows = await open_windows(settings, Metrics(), client)
    try:
        assert isinstance(windows, FallbackWindows)
        assert windows.status == "ok"
        assert await windows.add([WindowEvent("u", "t", "e", BASE)] * 2) == [1, 1]
        await windows.aclose()
        assert await client.ping()  # borrowed, not closed: others share it
    finally:
        await client.aclose()
        await drop_keys(redis_url, prefix)


async def test_an_unreachable_redis_stops_the_start_naming_the_url_without_its_password() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(DependencyUnavailable) as caught:
        await open_redis(redis_settings(f"redis://ops:s3cret@127.0.0.1:{port}/2").redis)
    message = str(caught.value)
    assert message.startswith(f"cannot reach Redis at redis://ops:***@127.0.0.1:{port}/2: ")
    assert "s3cret" not in message
    assert caught.value.url == f"redis://ops:***@127.0.0.1:{port}/2"


async def test_a_wrong_password_stops_the_start_without_showing_it() -> None:
    with RedisProcess(args=["--requirepass", "right-one"]) as server:
        url = f"redis://:wr%40ng-one@127.0.0.1:{server.port}/0"
        with pytest.raises(DependencyUnavailable) as caught:
            await open_redis(redis_settings(url).redis)
    message = str(caught.value)
    assert f"redis://:***@127.0.0.1:{server.port}/0" in message
    assert "ng-one" not in message  # neither wr%40ng-one nor wr@ng-one


async def test_the_right_password_opens() -> None:
    with RedisProcess(args=["--requirepass", "right-one"]) as server:
        url = f"redis://:right-one@127.0.0.1:{server.port}/0"
        settings = redis_settings(url)
        client = await open_redis(settings.redis)
        windows = await open_windows(settings, Metrics(), client)
        assert await windows.add([WindowEvent("u", "t", "e", BASE)]) == [1]
        await windows.aclose()
        await client.aclose()


async def test_a_url_redis_cannot_use_stops_the_start() -> None:
    # A scheme or port no Redis has is a settings problem (tests/test_settings.py); a URL
    # redis-py refuses past that still stops the start, its password masked.
    url = "redis://h:pw@x/0?socket_timeout=abc"
    masked = r"redis://h:\*\*\*@x/0\?socket_timeout=abc"
    with pytest.raises(DependencyUnavailable, match=rf"^cannot reach Redis at {masked}: "):
        await open_redis(redis_settings(url).redis)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://user@host:6379", "redis://user@host:6379"),
        ("redis://user:pw@host:6379/1", "redis://user:***@host:6379/1"),
        ("redis://:pw@host", "redis://:***@host"),
        ("rediss://u:p%3Aw%40d@host:6380/0", "rediss://u:***@host:6380/0"),
        ("redis://u:a@b@host", "redis://u:***@host"),
        ("unix:///tmp/redis.sock?db=1&password=pw", "unix:///tmp/redis.sock?db=1&password=***"),
        ("unix:///tmp/redis.sock?PASSWORD=pw&db=1", "unix:///tmp/redis.sock?PASSWORD=***&db=1"),
        ("redis://[::1", "(unparsable URL)"),
    ],
)
def test_masked_url_hides_every_password(url: str, masked: str) -> None:
    assert masked_url(url) == masked
