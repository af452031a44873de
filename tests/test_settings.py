"""Settings: the shipped file loads, overrides apply, and every mistake is named once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from signals.errors import SettingsError
from signals.secret import Secret
from signals.settings import Settings, load

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def problems(path: Path | None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load(path, environ or {})
    return caught.value.problems


def test_shipped_file_is_valid_and_equals_the_defaults() -> None:
    assert load(ROOT / "settings.toml", {}) == Settings()


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load(None, {})
    assert settings.ingest.port == 8000
    assert settings.windows.backend == "memory"
    assert settings.threshold("anything") == 10


def test_environment_overrides_are_typed(tmp_path: Path) -> None:
    path = write(tmp_path, "[ingest]\nport = 9000\n")
    settings = load(
        path,
        {
            "SIGNALS__INGEST__PORT": "18000",
            "SIGNALS__WINDOWS__BACKEND": "redis",
            "SIGNALS__THRESHOLDS__LOGIN": "20",
            "SIGNALS__AUTH__CORS_ORIGINS": '["https://a.example"]',
            "SIGNALS__DATA_DIR": "/tmp/x",
            "OTHER": "ignored",
        },
    )
    assert settings.ingest.port == 18000
    assert settings.windows.backend == "redis"
    assert settings.threshold("login") == 20
    assert settings.threshold("chat") == 10
    assert settings.auth.cors_origins == ["https://a.example"]
    assert settings.data_dir == "/tmp/x"


def test_every_problem_is_reported_with_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
data_dir = 5
[ingest]
port = 70000
bogus = 1
[windows]
backend = "etcd"
[thresholds]
login = 0
[[auth.keys]]
name = "a"
sha256 = "xyz"
scopes = ["ingest"]
""",
    )
    found = problems(path, {"SIGNALS__INGEST__MAX_BATCH": "zero"})
    assert f"{path}: data_dir: Expected `str`, got `int`" in found
    assert f"{path}: ingest.port: Expected `int` <= 65535" in found
    assert f"{path}: ingest.bogus: unknown key" in found
    assert f"{path}: windows.backend: Invalid enum value 'etcd'" in found
    assert f"{path}: thresholds.login: Expected `int` >= 1" in found
    assert any(line.startswith(f"{path}: auth.keys[0].sha256:") for line in found)
    assert "SIGNALS__INGEST__MAX_BATCH: ingest.max_batch: Expected `int`, got `str`" in found
    assert len(found) == 7


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SIGNALS__NOPE": "1"}, "SIGNALS__NOPE: nope: unknown key"),
        (
            {"SIGNALS__WINDOWS__SECONDS": "100"},
            "SIGNALS__WINDOWS__SECONDS: windows.ttl_seconds: must be at least windows.seconds",
        ),
        (
            {"SIGNALS__STORE__BACKEND": "postgres"},
            "SIGNALS__STORE__BACKEND: store.url: required when store.backend = 'postgres'",
        ),
        (
            {"SIGNALS__ALERTS__WEBHOOK_URL": "http://x"},
            "SIGNALS__ALERTS__WEBHOOK_URL: alerts.secret: required when webhook_url is set",
        ),
        ({"SIGNALS__ALERTS__SECRET": "plain"}, "SIGNALS__ALERTS__SECRET: alerts.secret: must be"),
        (
            {"SIGNALS__ALERTS__SECRET": "whsec_"},
            "SIGNALS__ALERTS__SECRET: alerts.secret: must not be empty after the whsec_ prefix",
        ),
        (
            {"SIGNALS__ALERTS__SECRET": "whsec_a!b@c#"},
            "SIGNALS__ALERTS__SECRET: alerts.secret: must be 'whsec_' followed by valid base64",
        ),
        (
            {"SIGNALS__ALERTS__WEBHOOK_URL": "ftp://x/y", "SIGNALS__ALERTS__SECRET": "whsec_eA=="},
            "SIGNALS__ALERTS__WEBHOOK_URL: alerts.webhook_url: must be an http:// or https:// URL",
        ),
        (
            {"SIGNALS__ROUTER__URL": "not a url"},
            "SIGNALS__ROUTER__URL: router.url: must be an http:// or https:// URL with a host",
        ),
        (
            {"SIGNALS__ROUTER__URL": "http://router:99999/"},
            "SIGNALS__ROUTER__URL: router.url: is not a valid URL",
        ),
        (
            {"SIGNALS__INGEST__PORT": "18620", "SIGNALS__INTEGRITY__PORT": "18620"},
            "SIGNALS__INTEGRITY__PORT: integrity.port: 18620 is ingest.port too",
        ),
        ({"SIGNALS__SENTIMENT__CUES__ANGRY__X": "1"}, "sentiment.cues.angry: unknown key"),
        ({"SIGNALS__INGEST____PORT": "1"}, "malformed variable name"),
        # addresses that could never work are settings problems, not a failure at run time
        (
            {"SIGNALS__REDIS__URL": "http://redis:6379/0"},
            "SIGNALS__REDIS__URL: redis.url: must be a redis:// or rediss:// or unix:// URL",
        ),
        (
            {"SIGNALS__REDIS__URL": "redis://redis:99999/0"},
            "SIGNALS__REDIS__URL: redis.url: is not a valid URL",
        ),
        (
            {"SIGNALS__STORE__BACKEND": "postgres", "SIGNALS__STORE__URL": "mysql://db/signals"},
            "SIGNALS__STORE__URL: store.url: must be a postgresql:// or postgres:// URL",
        ),
        (
            {
                "SIGNALS__JOURNAL__BACKEND": "jetstream",
                "SIGNALS__JOURNAL__URL": '["nats://a:4222", "http://u:pw@b:4222"]',
            },
            "SIGNALS__JOURNAL__URL: journal.url: 'http://u:***@b:4222' must be a nats:// or "
            "tls:// or ws:// or wss:// URL",
        ),
        (
            {"SIGNALS__SERVER__TRUSTED_PROXIES": '["10.0.0.0/8", "10.1.0.1/16"]'},
            "SIGNALS__SERVER__TRUSTED_PROXIES: server.trusted_proxies: '10.1.0.1/16' must be an "
            "IP address or a network (10.0.0.0/8), or `*` alone",
        ),
        (
            {"SIGNALS__JOURNAL__MONITORING_URL": '["http://nats-a:8222", "nats-b:8222"]'},
            "journal.monitoring_url: 'nats-b:8222' must be an http:// or https:// URL with a host",
        ),
        (
            {"SIGNALS__SERVER__TRUSTED_PROXIES": '["lb.internal"]'},
            "server.trusted_proxies: 'lb.internal' must be an IP address or a network",
        ),
        (
            {"SIGNALS__SERVER__TRUSTED_PROXIES": '["*", "10.0.0.1"]'},
            "server.trusted_proxies: '*' must be an IP address or a network (10.0.0.0/8), or "
            "`*` alone",
        ),
        # CORS compares origins as strings: one a browser never sends would silently never match
        (
            {"SIGNALS__AUTH__CORS_ORIGINS": '["https://app.example/"]'},
            "SIGNALS__AUTH__CORS_ORIGINS: auth.cors_origins: 'https://app.example/' is not an "
            "origin as browsers send it: 'https://app.example'",
        ),
        (
            {"SIGNALS__AUTH__CORS_ORIGINS": '["*", "HTTPS://App.Example:443"]'},
            "auth.cors_origins: 'HTTPS://App.Example:443' is not an origin as browsers send it: "
            "'https://app.example'",
        ),
        (
            {"SIGNALS__AUTH__CORS_ORIGINS": '["app.example"]'},
            "auth.cors_origins: 'app.example' must be an http:// or https:// URL with a host",
        ),
        # past what a date holds: the store's upkeep failed on it for ever at run time
        (
            {"SIGNALS__STORE__RETENTION_DAYS": "1e12"},
            "SIGNALS__STORE__RETENTION_DAYS: store.retention_days: Expected `float` <= 36500.0",
        ),
        (
            {"SIGNALS__JOURNAL__RETENTION_DAYS": "36501"},
            "SIGNALS__JOURNAL__RETENTION_DAYS: journal.retention_days: Expected `float` <= 36500.0",
        ),
    ],
)
def test_bad_values(environ: dict[str, str], expected: str, tmp_path: Path) -> None:
    found = problems(write(tmp_path, ""), environ)
    assert any(expected in line for line in found), found


def test_infinite_and_nan_numbers_are_refused_wherever_they_are(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[store]
retention_days = inf
[journal]
retention_days = nan
[[auth.keys]]
name = "a"
sha256 = "%s"
scopes = ["read"]
rate_per_second = inf
[sentiment.cues.stressed]
"on fire" = -inf
"""
        % ("0" * 64),
    )
    found = problems(path, {"SIGNALS__SERVER__SHUTDOWN_TIMEOUT_SECONDS": "inf"})
    assert found == [
        f"{path}: store.retention_days: must be a finite number",
        f"{path}: journal.retention_days: must be a finite number",
        f"{path}: auth.keys[0].rate_per_second: must be a finite number",
        f"{path}: sentiment.cues.stressed.on fire: must be a finite number",
        "SIGNALS__SERVER__SHUTDOWN_TIMEOUT_SECONDS: server.shutdown_timeout_seconds: "
        "must be a finite number",
    ]


def test_addresses_that_work_are_accepted(tmp_path: Path) -> None:
    settings = load(
        write(tmp_path, ""),
        {
            "SIGNALS__REDIS__URL": "unix:///run/redis.sock",
            "SIGNALS__STORE__URL": "postgresql://signals@/signals?host=/run/postgresql",
            "SIGNALS__JOURNAL__URL": '["nats://a:4222", "tls://b:4222"]',
            "SIGNALS__SERVER__TRUSTED_PROXIES": '["10.0.0.0/8", "192.0.2.7", "fd00::/8"]',
        },
    )
    assert settings.server.trusted_proxies == ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]


def test_threshold_keys_must_be_signal_types(tmp_path: Path) -> None:
    found = problems(write(tmp_path, '[thresholds]\n"Bad Type" = 3\nchat = 4\n"X" = 5\n'))
    path = tmp_path / "settings.toml"
    pattern = "Expected `str` matching regex '^[a-z][a-z0-9_.-]{0,63}$'"
    assert found == [
        f"{path}: thresholds.Bad Type: not a valid key: {pattern}",
        f"{path}: thresholds.X: not a valid key: {pattern}",
    ]


def test_every_problem_of_every_api_key_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[auth.keys]]
name = ""
sha256 = "xyz"
scopes = ["god"]
burst = 0
extra = 1
[[auth.keys]]
name = "no-digest"
""",
    )
    found = problems(path, {"SIGNALS__AUTH__MAX_FAILURES": "0"})
    assert found == [
        f"{path}: auth.keys[0].name: Expected `str` of length >= 1",
        f"{path}: auth.keys[0].sha256: Expected `str` matching regex '^[0-9a-f]{{64}}$'",
        f"{path}: auth.keys[0].scopes[0]: Invalid enum value 'god'",
        f"{path}: auth.keys[0].burst: Expected `int` >= 1",
        f"{path}: auth.keys[0].extra: unknown key",
        f"{path}: auth.keys[1].sha256: required key missing",
        f"{path}: auth.keys[1].scopes: required key missing",
        "SIGNALS__AUTH__MAX_FAILURES: auth.max_failures: Expected `int` >= 1",
    ]
    assert problems(write(tmp_path, "[auth]\nkeys = [1]\n")) == [
        f"{path}: auth.keys[0]: Expected `object`, got `int`"
    ]


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    assert "cannot read" in problems(tmp_path / "missing.toml")[0]
    assert "not valid TOML" in problems(write(tmp_path, "[ingest\nport = 1"))[0]


def test_secret_never_shows() -> None:
    settings = load(None, {"SIGNALS__ALERTS__SECRET": "whsec_c2VjcmV0c2VjcmV0"})
    assert "c2VjcmV0" not in repr(settings)
    assert settings.alerts.secret.reveal() == "whsec_c2VjcmV0c2VjcmV0"
    assert Secret("a") == Secret("a")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signals", *args], capture_output=True, text=True, cwd=cwd,
        timeout=60, check=False,
    )  # fmt: skip


def test_check_config_exit_codes(tmp_path: Path) -> None:
    good = run_cli("check-config", "--config", str(ROOT / "settings.toml"), cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    bad = write(tmp_path, "[ingest]\nport = -1\nextra = true\n")
    result = run_cli("check-config", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{bad}: ingest.port: Expected `int` >= 0",
        f"{bad}: ingest.extra: unknown key",
    ]


def test_serve_refuses_bad_settings_before_starting(tmp_path: Path) -> None:
    bad = write(tmp_path, "[windows]\nbackend = 1\n")
    result = run_cli("serve", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "windows.backend" in result.stderr


def test_otel_settings_are_checked_and_off_by_default(tmp_path: Path) -> None:
    assert Settings().otel.endpoint == ""
    path = write(tmp_path, '[otel]\nendpoint = "collector:4318"\nsample_ratio = 1.5\n')
    found = problems(path)
    assert any(line.startswith(f"{path}: otel.sample_ratio: ") for line in found), found
    path = write(tmp_path, '[otel]\nendpoint = "collector:4318"\n')
    assert problems(path) == [
        f"{path}: otel.endpoint: must be an http:// or https:// URL with a host (or empty: off)"
    ]
    on = load(path, {"SIGNALS__OTEL__ENDPOINT": "http://127.0.0.1:4318"})
    assert (on.otel.endpoint, on.otel.service_name) == ("http://127.0.0.1:4318", "signals")


def test_the_jetstream_journal_needs_a_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[journal]\nbackend = "jetstream"\nurl = []\n')
    assert problems(path) == [f"{path}: journal.url: at least one nats:// URL, and no empty one"]
    listed = write(
        tmp_path, '[journal]\nbackend = "jetstream"\nurl = ["nats://a:4222", "nats://b:4222"]\n'
    )
    assert load(listed, {}).journal.urls == ["nats://a:4222", "nats://b:4222"]
