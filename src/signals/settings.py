"""Typed, frozen settings: `settings.toml`, then `SIGNALS__SECTION__KEY` overrides.

`load(path, environ)` returns a `Settings` or raises `SettingsError` carrying one line per
problem, each naming where the value came from (the file or the environment variable) and the
key path, so an operator can fix every mistake in one pass instead of one per restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from signals.errors import SettingsError
from signals.labels import Sentiment, Severity
from signals.secret import Secret
from signals.settings_sources import apply_environ, non_finite, origin, resolve_path
from signals.urls import http_url_problem, masked_url, origin_problem, proxy_problem, url_problem
from signals.webhook_secret import signing_key

SIGNAL_TYPE_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
# `*`, `*.example.com`, a name, an IPv4 address or a bracketed IPv6 one; no port.
# A thresholds key: a signal_type, or "default" for the others.
ThresholdKey = Annotated[str, Meta(pattern=SIGNAL_TYPE_PATTERN)]
HOST_PATTERN = r"^(\*|(\*\.)?[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])$"

Port = Annotated[int, Meta(ge=0, le=65535)]
PositiveInt = Annotated[int, Meta(ge=1)]
PositiveFloat = Annotated[float, Meta(gt=0)]
Scope = Literal["ingest", "read", "admin"]


class IngestSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Port = 8000
    max_body_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    max_batch: Annotated[int, Meta(ge=1, le=100_000)] = 1000
    max_text_chars: Annotated[int, Meta(ge=1, le=1_000_000)] = 8192
    # Events accepted but not yet in the store; a full queue makes requests wait, then 503.
    queue_size: Annotated[int, Meta(ge=1)] = 50_000
    queue_wait_seconds: Annotated[float, Meta(ge=0)] = 2.0
    dedupe_max_ids: Annotated[int, Meta(ge=1000)] = 1_000_000
    dedupe_horizon_seconds: Annotated[int, Meta(ge=60)] = 86_400


class IntegritySettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Port = 8001


class WindowsSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    backend: Literal["memory", "redis"] = "memory"
    seconds: PositiveFloat = 5.0
    ttl_seconds: PositiveInt = 60
    # Memory backend: keys idle for ttl_seconds are evicted; this caps them regardless.
    max_keys: Annotated[int, Meta(ge=1000)] = 1_000_000

    def __post_init__(self) -> None:
        if self.ttl_seconds < self.seconds:
            raise ValueError("ttl_seconds: must be at least windows.seconds")


class RedisSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "signals"
    timeout_seconds: PositiveFloat = 1.0
    # While Redis is lost, how often the windows try it again.
    retry_seconds: PositiveFloat = 2.0

    def __post_init__(self) -> None:
        if self.url and (problem := url_problem(self.url, ("redis", "rediss", "unix"))):
            raise ValueError(f"url: {problem}")


class StoreSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: str = ""  # empty: <data_dir>/signals.db
    url: str = ""  # postgresql://user@host:port/db
    batch_max: Annotated[int, Meta(ge=1, le=100_000)] = 2000
    pool_size: Annotated[int, Meta(ge=1, le=100)] = 4
    retention_days: Annotated[float, Meta(ge=0, le=36_500)] = 30.0  # 0 keeps everything

    def __post_init__(self) -> None:
        if self.url and (problem := url_problem(self.url, ("postgresql", "postgres"))):
            raise ValueError(f"url: {problem}")


class JournalSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    backend: Literal["local", "jetstream"] = "local"
    fsync: Literal["always", "interval"] = "always"
    fsync_interval_ms: Annotated[int, Meta(ge=1, le=60_000)] = 200
    segment_max_bytes: Annotated[int, Meta(ge=4096)] = 64 * 1024 * 1024
    retention_days: Annotated[float, Meta(ge=0, le=36_500)] = 7.0  # 0 keeps every segment
    compress: bool = True
    # JetStream (backend = "jetstream"): see `signals.jetstream`.
    url: str | list[str] = "nats://127.0.0.1:4222"
    stream: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = "signals"
    replicas: Annotated[int, Meta(ge=1, le=5)] = 1
    dedupe_window_seconds: Annotated[float, Meta(ge=1, le=7 * 86_400)] = 3600.0
    partitions: Annotated[int, Meta(ge=1, le=256)] = 16
    timeout_seconds: PositiveFloat = 5.0
    ack_wait_seconds: Annotated[float, Meta(ge=1)] = 10.0
    lease_seconds: Annotated[float, Meta(ge=3)] = 10.0
    monitoring_url: str | list[str] = ""
    server_sync: Literal["unknown", "always", "interval"] = "unknown"

    def __post_init__(self) -> None:
        if self.backend == "jetstream" and not (self.urls and all(self.urls)):
            raise ValueError("url: at least one nats:// URL, and no empty one")
        for url in self.urls if self.backend == "jetstream" else []:
            if problem := url_problem(url, ("nats", "tls", "ws", "wss")):
                raise ValueError(f"url: {masked_url(url)!r} {problem}")
        for url in self.monitoring_urls:
            if problem := http_url_problem(url):
                raise ValueError(f"monitoring_url: {masked_url(url)!r} {problem}")

    @property
    def urls(self) -> list[str]:
        return [self.url] if isinstance(self.url, str) else list(self.url)

    @property
    def monitoring_urls(self) -> list[str]:
        found = (
            [self.monitoring_url] if isinstance(self.monitoring_url, str) else self.monitoring_url
        )
        return [url for url in found if url]


class RouterSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: str = ""
    batch_size: Annotated[int, Meta(ge=1, le=10_000)] = 1
    timeout_seconds: PositiveFloat = 5.0
    max_backoff_seconds: PositiveFloat = 30.0

    def __post_init__(self) -> None:
        if self.url and (problem := http_url_problem(self.url)):
            raise ValueError(f"url: {problem} (or empty: off)")


class AlertsSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    webhook_url: str = ""
    secret: Secret = Secret("")
    min_severity: Severity = "critical"
    max_attempts: Annotated[int, Meta(ge=1, le=100)] = 8
    timeout_seconds: PositiveFloat = 5.0
    max_backoff_seconds: PositiveFloat = 300.0
    # Alertmanager's default too: an alert that never says it is over leaves pages open.
    send_resolved: bool = True

    def __post_init__(self) -> None:
        if self.webhook_url and (problem := http_url_problem(self.webhook_url)):
            raise ValueError(f"webhook_url: {problem}")
        if self.webhook_url and not self.secret:
            raise ValueError("secret: required when webhook_url is set")
        if self.secret:
            try:
                signing_key(self.secret.reveal())
            except ValueError as exc:
                raise ValueError(f"secret: {exc}") from None


class ApiKey(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    scopes: list[Scope]
    rate_per_second: Annotated[float, Meta(gt=0)] | None = None
    burst: Annotated[int, Meta(ge=1)] | None = None


class AuthSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    keys: list[ApiKey] = []
    max_failures: Annotated[int, Meta(ge=1)] = 10
    protect_metrics: bool = False
    cors_origins: list[str] = []

    def __post_init__(self) -> None:
        names = [key.name for key in self.keys]
        if len(names) != len(set(names)):
            raise ValueError("keys: key names must be unique")
        for allowed in self.cors_origins:
            if problem := origin_problem(allowed):
                raise ValueError(f"cors_origins: {allowed!r} {problem}")


class ServerSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    shutdown_timeout_seconds: PositiveFloat = 10.0
    # Host names served (DNS rebinding); empty: loopback names while auth is off, any with keys.
    allowed_hosts: list[Annotated[str, Meta(pattern=HOST_PATTERN)]] = []
    # Proxies whose X-Forwarded-For is believed (the failure limiter counts per client address);
    # empty: the peer address is the client, whatever headers say.
    trusted_proxies: list[str] = []

    def __post_init__(self) -> None:
        for proxy in self.trusted_proxies if self.trusted_proxies != ["*"] else []:
            if problem := proxy_problem(proxy):
                raise ValueError(f"trusted_proxies: {proxy!r} {problem}")


class OtelSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # The collector's OTLP/HTTP URL; "/v1/traces" is appended unless it ends with it. Empty: off.
    endpoint: str = ""
    service_name: Annotated[str, Meta(min_length=1)] = "signals"
    sample_ratio: Annotated[float, Meta(ge=0, le=1)] = 1.0

    def __post_init__(self) -> None:
        if self.endpoint and (problem := http_url_problem(self.endpoint)):
            raise ValueError(f"endpoint: {problem} (or empty: off)")


class LoggingSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console", "auto"] = "auto"


class SentimentSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # label -> {cue phrase: weight}; adds to or overrides the shipped lexicon.
    cues: dict[Sentiment, dict[str, float]] = {}
    # Shipped cue phrases to ignore.
    remove: list[str] = []


class Settings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    data_dir: str = "./data"
    ingest: IngestSettings = IngestSettings()
    integrity: IntegritySettings = IntegritySettings()
    windows: WindowsSettings = WindowsSettings()
    thresholds: dict[ThresholdKey, Annotated[int, Meta(ge=1)]] = msgspec.field(
        default_factory=lambda: {"default": 10}
    )
    redis: RedisSettings = RedisSettings()
    store: StoreSettings = StoreSettings()
    journal: JournalSettings = JournalSettings()
    router: RouterSettings = RouterSettings()
    alerts: AlertsSettings = AlertsSettings()
    auth: AuthSettings = AuthSettings()
    server: ServerSettings = ServerSettings()
    otel: OtelSettings = OtelSettings()
    logging: LoggingSettings = LoggingSettings()
    sentiment: SentimentSettings = SentimentSettings()

    def __post_init__(self) -> None:
        if self.store.backend == "postgres" and not self.store.url:
            raise ValueError("store.url: required when store.backend = 'postgres'")
        ingest, integrity = self.ingest, self.integrity
        same_port = ingest.port and ingest.port == integrity.port
        if same_port and _may_overlap(ingest.host, integrity.host):
            raise ValueError(
                f"integrity.port: {integrity.port} is ingest.port too: each port needs its own"
            )

    def threshold(self, signal_type: str) -> int:
        return self.thresholds.get(signal_type, self.thresholds.get("default", 10))

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def sqlite_path(self) -> Path:
        return Path(self.store.path) if self.store.path else self.data_path / "signals.db"


def _may_overlap(host: str, other: str) -> bool:
    """Whether two bind addresses can take the same port (an unspecified one takes them all)."""
    everywhere = {"", "0.0.0.0", "::"}  # compared with, not bound to
    return host == other or bool({host, other} & everywhere)


def _dec_hook(type_: type, value: Any) -> Any:
    if type_ is Secret and isinstance(value, str):
        return Secret(value)
    raise TypeError(f"expected a string for {type_.__name__}")  # msgspec reports it with the path


def _struct_type(type_: Any) -> type[Struct] | None:
    return type_ if isinstance(type_, type) and issubclass(type_, Struct) else None


def _array_of_tables(type_: Any) -> type[Struct] | None:
    """The struct of a `[[section.key]]` array's tables, for a `list[Struct]` field."""
    if getattr(type_, "__origin__", None) is not list:
        return None
    return _struct_type(type_.__args__[0])


def _convert_one(type_: Any, value: Any, path: str, origins: Mapping[str, str], source: str) -> str:
    if (where := non_finite(value, path)) is not None:
        return f"{origin(where, origins, source)}: {where}: must be a finite number"
    try:
        msgspec.convert(value, type=type_, dec_hook=_dec_hook)
    except (msgspec.ValidationError, ValueError) as exc:
        detail, _, where = str(exc).partition(" - at `$")
        full = path + where.rstrip("`")
        return f"{origin(full, origins, source)}: {full}: {detail}"
    return ""


def _check_tables(
    table: type[Struct], items: list[Any], path: str, origins: Mapping[str, str], source: str
) -> list[str]:
    """Each table of a `[[section.key]]` array (`auth.keys`) checked on its own."""
    problems: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            problems += _check(table, item, f"{path}[{index}].", origins, source)
        else:
            problems.append(_convert_one(table, item, f"{path}[{index}]", origins, source))
    return problems


def _check_mapping(
    type_: Any, mapping: dict[str, Any], path: str, origins: Mapping[str, str], source: str
) -> list[str]:
    """Each key and value of a `dict[...]` field (`thresholds`, `sentiment.cues`) on its own."""
    problems: list[str] = []
    key_type, value_type = type_.__args__
    for name, item in mapping.items():
        line = _convert_one(value_type, item, f"{path}.{name}", origins, source)
        if not line and (key_line := _convert_one(key_type, name, "", origins, source)):
            what = "unknown key"
            if getattr(key_type, "__origin__", None) is not Literal:
                what = "not a valid key: " + key_line.rpartition(": ")[2]
            line = f"{origin(path, origins, source)}: {path}.{name}: {what}"
        problems.append(line)
    return problems


def _check(
    type_: Any, tree: dict[str, Any], prefix: str, origins: Mapping[str, str], source: str
) -> list[str]:
    """Check each key on its own so that every problem is reported, not only the first."""
    problems: list[str] = []
    fields = {field.name: field for field in msgspec.structs.fields(type_)}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            problems.append(f"{origin(path, origins, source)}: {path}: unknown key")
        elif (section := _struct_type(field.type)) and isinstance(value, dict):
            problems += _check(section, value, path + ".", origins, source)
        elif (table := _array_of_tables(field.type)) and isinstance(value, list):
            problems += _check_tables(table, value, path, origins, source)
        elif getattr(field.type, "__origin__", None) is dict and isinstance(value, dict):
            problems += _check_mapping(field.type, value, path, origins, source)
        else:
            problems.append(_convert_one(field.type, value, path, origins, source))
    for name in [name for name, field in fields.items() if field.required and name not in tree]:
        path = f"{prefix}{name}"
        problems.append(f"{origin(path, origins, source)}: {path}: required key missing")
    problems = list(dict.fromkeys(line for line in problems if line))
    if not problems:
        # Cross-field rules (__post_init__) run once every field of this section is sound. Each
        # says which key it is about first ("secret: ..."), so the line names its full path.
        try:
            msgspec.convert(tree, type=type_, dec_hook=_dec_hook)
        except (msgspec.ValidationError, ValueError) as exc:
            key, _, detail = str(exc).partition(": ")
            if not detail or key.split(".", 1)[0] not in fields:
                key, detail = "", str(exc)
            path = ".".join(part for part in (prefix.rstrip("."), key) if part) or "(top level)"
            # A key the rule names may be unset ("store.url" is required when ...): then the
            # variable that set something else in its section is what made it a problem.
            where = origin(path, origins, source)
            if where == source and "." in path:
                where = origin(path.rsplit(".", 1)[0], origins, source)
            problems.append(f"{where}: {path}: {detail}")
    return problems


def load(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    environ = os.environ if environ is None else environ
    config = resolve_path(path, environ)
    source = str(config) if config else "(defaults)"
    tree: dict[str, Any] = {}
    if config is not None:
        try:
            tree = msgspec.toml.decode(config.read_bytes())
        except OSError as exc:
            raise SettingsError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
        except msgspec.DecodeError as exc:
            raise SettingsError([f"{source}: not valid TOML: {exc}"]) from None
    origins: dict[str, str] = {}
    problems = apply_environ(tree, environ, origins)
    problems += _check(Settings, tree, "", origins, source)
    if problems:
        raise SettingsError(problems)
    return msgspec.convert(tree, type=Settings, dec_hook=_dec_hook)
