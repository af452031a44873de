"""The scope table: which method and path need which scope."""

from __future__ import annotations

import pytest

from signals.auth.scopes import ScopeMap, grants
from signals.settings import Scope

CASES: list[tuple[str, str, Scope | None]] = [
    # ingest port
    ("POST", "/v1/log", "ingest"),
    ("POST", "/log", "ingest"),
    ("POST", "/v1/log/batch", "ingest"),
    ("GET", "/v1/signals", "read"),
    ("HEAD", "/v1/signals", "read"),
    ("GET", "/v1/signals/export", "read"),
    ("GET", "/v1/stats", "read"),
    ("GET", "/", None),
    ("GET", "/static/app.js", None),
    ("GET", "/static/vendor/chartjs/chart.umd.min.js", None),
    # integrity port
    ("POST", "/v1/events", "ingest"),
    ("POST", "/v1/validate", "ingest"),
    ("GET", "/v1/anomalies", "read"),
    ("GET", "/v1/anomalies/user-1", "read"),
    ("GET", "/v1/anomalies/a/b%2fc", "read"),
    ("GET", "/v1/alerts", "read"),
    # both ports
    ("GET", "/health", None),
    ("GET", "/ready", None),
    ("HEAD", "/ready", None),
    ("GET", "/openapi.json", None),
    ("GET", "/metrics", None),
    # unknown paths: reads outside /v1/ are open (404), the API namespace and writes fail closed
    ("GET", "/favicon.ico", None),
    ("GET", "/v1", None),
    ("GET", "/v1/", "read"),
    ("GET", "/v1/not-yet-a-route", "read"),
    ("POST", "/not-a-route", "ingest"),
    ("POST", "/health", "ingest"),
    ("POST", "/metrics", "ingest"),
    ("PUT", "/v1/signals", "ingest"),
    ("DELETE", "/v1/anomalies/u", "ingest"),
    ("PATCH", "/", "ingest"),
    ("OPTIONS", "/v1/log", None),
    ("GET", "", None),
    ("POST", "", "ingest"),
]


@pytest.mark.parametrize(("method", "path", "needed"), CASES)
def test_required_scope(method: str, path: str, needed: Scope | None) -> None:
    assert ScopeMap(protect_metrics=False).required(method, path) == needed


@pytest.mark.parametrize(("method", "path", "needed"), CASES)
def test_protect_metrics_changes_only_metrics(method: str, path: str, needed: Scope | None) -> None:
    expected = "read" if (method, path) == ("GET", "/metrics") else needed
    assert ScopeMap(protect_metrics=True).required(method, path) == expected


@pytest.mark.parametrize(
    ("held", "needed", "granted"),
    [
        (["ingest"], "ingest", True),
        (["ingest"], "read", False),
        (["read"], "ingest", False),
        (["read"], "read", True),
        (["ingest", "read"], "read", True),
        (["admin"], "ingest", True),
        (["admin"], "read", True),
        (["admin"], "admin", True),
        (["read"], "admin", False),
        ([], "read", False),
    ],
)
def test_grants(held: list[Scope], needed: Scope, granted: bool) -> None:
    assert grants(held, needed) is granted
