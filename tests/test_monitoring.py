"""The monitoring assets in deploy/ against a real `signals serve`: every metric the Prometheus
rules and the Grafana dashboard query is one the service exports, and Prometheus's own `promtool`
accepts the rules, passes their unit tests, and parses every dashboard query.

A metric is exported when `/metrics` declares its family, whether or not a sample exists yet (a
labelled counter has none until its first increment); the names a query may use are the
family's samples: `_total` (and `_created`) of a counter, `_bucket`, `_sum`, `_count` of a
histogram, the name itself of a gauge. promtool comes with Debian's `prometheus` package, which
.ci/run installs: without it these checks skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.support.ci import cannot_run
from tests.support.service import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "signals-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "signals-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "signals-dashboard.json"
METRIC = re.compile(r"\bsignals_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
# What each concern of the operations guide is watched by.
REQUIRED_ALERTS = {
    "SignalsConsumerLagging",
    "SignalsJournalFsyncSlow",
    "SignalsWindowsDegraded",
    "SignalsWebhookDeliveryFailed",
    "SignalsJournalUnavailable",
}
# Grafana's variables, as Prometheus would see them once Grafana has substituted them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_expressions() -> list[str]:
    found = [target["expr"] for panel in panels() for target in panel["targets"]]
    found += [v["definition"] for v in dashboard()["templating"]["list"] if "definition" in v]
    return found


def as_promql(query: str) -> str:
    """A dashboard query as Prometheus receives it from Grafana."""
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    if query.startswith("label_values("):  # Grafana's own function: it asks for this series
        return query.removeprefix("label_values(").split(",")[0]
    return query


def metric_names(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC.findall(expr)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Every sample name the families of a running service's /metrics allow, on each port."""
    with ServiceProcess(tmp_path_factory.mktemp("monitoring")) as service:
        names: set[str] = set()
        for base in (service.ingest, service.integrity):
            text = httpx.get(f"{base}/metrics", timeout=10).text
            for family in text_string_to_metric_families(text):
                names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        yield names
        assert service.stop() == 0, service.logs()


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        cannot_run("promtool is missing: apt-get install prometheus (Debian's package)")
    return found


def run_promtool(*argv: str | Path, cwd: Path = ROOT) -> None:
    done = subprocess.run(
        [promtool(), *map(str, argv)], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_use_only_exported_metrics(exported: set[str]) -> None:
    used = metric_names(list(rule_expressions().values()))
    assert used, "no metric found in the rules"
    assert used - exported == set()


def test_the_dashboard_uses_only_exported_metrics(exported: set[str]) -> None:
    used = metric_names(dashboard_expressions())
    assert used, "no metric found in the dashboard"
    assert used - exported == set()


def test_the_rules_watch_each_concern() -> None:
    assert set(rule_expressions()) >= REQUIRED_ALERTS


def test_the_dashboard_is_well_formed() -> None:
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_promtool_accepts_the_rules_and_their_unit_tests() -> None:
    run_promtool("check", "rules", RULES)
    run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each query becomes a recording rule, which `promtool check rules` parses as PromQL."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": as_promql(expr)}
        for index, expr in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", path)
