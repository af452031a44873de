"""Protected mode: no keys only on loopback; what `serve` and `check-config` refuse and warn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from signals.auth.exposure import check_exposure, is_loopback, startup_warnings
from signals.auth.keys import digest
from signals.settings import (
    ApiKey,
    AuthSettings,
    IngestSettings,
    IntegritySettings,
    ServerSettings,
    Settings,
)

KEY = ApiKey(name="ops", sha256=digest("sk_ops"), scopes=["admin"])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("172.16.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
        ("128.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def settings(
    ingest: str, integrity: str, keys: list[ApiKey], proxies: list[str] | None = None
) -> Settings:
    return Settings(
        ingest=IngestSettings(host=ingest),
        integrity=IntegritySettings(host=integrity),
        auth=AuthSettings(keys=keys),
        server=ServerSettings(trusted_proxies=proxies or []),
    )


@pytest.mark.parametrize(
    ("ingest", "integrity", "keys", "exposed"),
    [
        ("127.0.0.1", "127.0.0.1", [], []),
        ("localhost", "::1", [], []),
        ("127.0.0.2", "127.0.0.1", [], []),
        ("0.0.0.0", "127.0.0.1", [], ["ingest.host"]),
        ("127.0.0.1", "::", [], ["integrity.host"]),
        ("10.0.0.5", "0.0.0.0", [], ["ingest.host", "integrity.host"]),
        ("0.0.0.0", "::", [KEY], []),
        ("10.0.0.5", "127.0.0.1", [KEY], []),
    ],
)
def test_check_exposure(
    ingest: str, integrity: str, keys: list[ApiKey], exposed: list[str]
) -> None:
    problems = check_exposure(settings(ingest, integrity, keys))
    assert [key for key, _ in problems] == exposed
    for _, line in problems:
        assert "is not loopback and auth.keys is empty" in line
        assert "signals keygen" in line


def test_exposure_message_names_the_host() -> None:
    ((key, line),) = check_exposure(settings("0.0.0.0", "127.0.0.1", []))
    assert (key, line.split(" is ")[0]) == ("ingest.host", "0.0.0.0")


def test_startup_warnings() -> None:
    assert startup_warnings(settings("127.0.0.1", "127.0.0.1", [])) == [
        "auth is off: no API keys configured; listening on loopback only"
    ]
    assert startup_warnings(settings("0.0.0.0", "127.0.0.1", [KEY], ["10.0.0.2"])) == []
    twin = ApiKey(name="twin", sha256=KEY.sha256, scopes=["read"])
    (warning,) = startup_warnings(settings("127.0.0.1", "127.0.0.1", [KEY, twin]))
    assert "'ops' and 'twin' have the same sha256" in warning


def signals_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # A subprocess: the CLI configures logging for the whole process it runs in.
    return subprocess.run(
        [sys.executable, "-m", "signals", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check_config(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "settings.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n{toml}')
    return signals_cli("check-config", "--config", str(config))


def test_check_config_refuses_an_exposed_bind_without_keys(tmp_path: Path) -> None:
    done = check_config(tmp_path, '[ingest]\nhost = "0.0.0.0"\n')
    assert done.returncode == 2
    config = tmp_path / "settings.toml"
    assert done.stderr.startswith(f"{config}: ingest.host: 0.0.0.0 is not loopback")


def test_serve_refuses_an_exposed_bind_without_keys_before_listening(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[integrity]\nhost = "::"\n')
    done = signals_cli("serve", "--config", str(config))
    assert done.returncode == 2
    assert f"{config}: integrity.host: :: is not loopback" in done.stderr
    assert not (tmp_path / "data").exists()


def test_check_config_accepts_an_exposed_bind_with_keys(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[ingest]\nhost = "0.0.0.0"\n'
        f'[[auth.keys]]\nname = "ops"\nsha256 = "{digest("sk_ops")}"\nscopes = ["admin"]\n'
    )
    done = signals_cli("check-config", "--config", str(config))
    assert done.returncode == 0, done.stderr


def test_an_exposed_bind_without_trusted_proxies_warns() -> None:
    warnings = startup_warnings(settings("0.0.0.0", "127.0.0.1", [KEY]))
    assert [line.split(" = ")[0] for line in warnings] == ["ingest.host"]
    assert "server.trusted_proxies is empty" in warnings[0]
    assert "valid keys are never refused" in warnings[0]


def test_trusting_every_proxy_needs_keys() -> None:
    ((key, problem),) = check_exposure(settings("127.0.0.1", "127.0.0.1", [], ["*"]))
    assert key == "server.trusted_proxies"
    assert problem.startswith('["*"] believes X-Forwarded-For')
    assert "auth.keys" in problem
    assert check_exposure(settings("0.0.0.0", "127.0.0.1", [KEY], ["*"])) == []
    assert check_exposure(settings("127.0.0.1", "127.0.0.1", [], ["10.0.0.2"])) == []


def test_check_config_refuses_trusting_every_proxy_without_keys(tmp_path: Path) -> None:
    every = '[server]\ntrusted_proxies = ["*"]\n'
    done = check_config(tmp_path, every)
    assert done.returncode == 2
    config = tmp_path / "settings.toml"
    assert done.stderr.startswith(f'{config}: server.trusted_proxies: ["*"] believes X-Forwarded')
    key = f'[[auth.keys]]\nname = "ops"\nsha256 = "{digest("sk_ops")}"\nscopes = ["admin"]\n'
    assert check_config(tmp_path, every + key).returncode == 0
