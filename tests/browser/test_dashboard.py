"""The dashboard in a real browser (Debian's Chromium through Playwright) against a real
`signals serve` subprocess: charts drawn with data, both tables filled, the range selector, live
refresh without a reload, no console error or failed request, nothing fetched from another host,
no horizontal overflow at phone width, and the read-key form when auth is on. Alerts go to the
real webhook receiver of the alert tests, which refuses each delivery's first attempt: a click
on an anomaly shows its events, and the deliveries show every attempt.

Playwright's `wait_for_function` evaluates a string, which the page's CSP (no 'unsafe-eval')
refuses; the tests wait on selectors or poll `page.evaluate` instead.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright
from tests.integrity.alerts.webhook_receiver import WebhookReceiver
from tests.support.ci import cannot_run
from tests.support.service import ServiceProcess

from signals.auth.keys import digest
from signals.simulate.corpus import MESSAGES

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
ALERTS_SCREENSHOT = ROOT / "docs" / "dashboard-alerts.png"
SENTIMENTS = ("stressed", "uncertain", "positive", "neutral")
TYPES = ("chat", "search", "tool_call", "feedback", "login", "escalation")
HOSTILE_USER = '<img src=x onerror="window.__pwned=1">'
HOSTILE_TEXT = "<script>window.__pwned=2</script> still stressed, this is urgent!"
BURST_USER = "burst-user"
DRILL_USER = "drill-user"
SEEDED = 300
DEADLINE_SECONDS = 20.0


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def events(count: int, offset: int = 0) -> list[dict[str, Any]]:
    """Varied events: every sentiment, six types, 25 users with a few heavy ones."""
    made = []
    for n in range(offset, offset + count):
        label = SENTIMENTS[n % 4]
        texts = MESSAGES[label]
        made.append(
            {
                "user_id": f"user-{(n * n) % 25:02d}" if n % 3 else f"heavy-{n % 2}",
                "signal_type": TYPES[n % len(TYPES)],
                "text": texts[(n // 4) % len(texts)],
                "agent_id": "browser-test",
            }
        )
    return made


def seed(base: str) -> None:
    """300 events in batches, two hostile strings, and a burst that opens a critical episode."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for start in range(0, SEEDED, 100):
            answer = client.post("/v1/log/batch", json=events(100, start))
            assert answer.status_code == 202, answer.text
        hostile = {"user_id": HOSTILE_USER, "signal_type": "chat", "text": HOSTILE_TEXT}
        assert client.post("/v1/log", json=hostile).status_code == 202
        for n in range(16):  # > 10 in 5 s, and >= 15: critical with the default threshold
            burst = {"user_id": BURST_USER, "signal_type": "chat", "text": f"help {n}, urgent!"}
            assert client.post("/v1/log", json=burst).status_code == 202


@dataclass
class Watch:
    """Everything a page did that a healthy dashboard never does."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", self._request)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console_errors.append(f"{message.type}: {message.text}")

    def _failed(self, request: Request) -> None:
        self.failed.append(f"{request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.bad_status.append(f"{response.status} {response.url}")

    def _request(self, request: Request) -> None:
        if not request.url.startswith(self.origin + "/"):
            self.foreign.append(request.url)

    def assert_clean(self) -> None:
        assert self.console_errors == []
        assert self.page_errors == []
        assert self.failed == []
        assert self.bad_status == []
        assert self.foreign == []


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        cannot_run("needs Chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class ThreadedReceiver:
    """The alert tests' webhook receiver on an event loop of its own, in a thread: these tests
    are synchronous (Playwright's sync API)."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.__aenter__(), self._loop).result(10)
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        stopping = self.receiver.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(stopping, self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with ThreadedReceiver(WebhookReceiver(fail_first=1)) as running:
        yield running


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver
) -> Iterator[ServiceProcess]:
    alerts = {
        "webhook_url": receiver.url,
        "secret": "whsec_" + base64.b64encode(os.urandom(32)).decode(),
        "max_backoff_seconds": 0.2,
    }
    process = ServiceProcess(tmp_path_factory.mktemp("dashboard"), {"alerts": alerts})
    with process:
        yield process
        assert process.stop() == 0, process.logs()


def open_dashboard(browser: Browser, url: str, width: int, height: int) -> tuple[Page, Watch]:
    page = browser.new_page(viewport={"width": width, "height": height})
    watch = Watch(origin=url.rstrip("/"))
    watch.attach(page)
    page.goto(url)
    page.wait_for_selector("html[data-refreshes]", state="attached")
    return page, watch


CHART_FACTS = """() => Object.fromEntries(
  Object.entries(window.signalsCharts).map(([name, chart]) => [name, {
    labels: chart.data.labels.length,
    total: chart.data.datasets.reduce((t, d) => t + d.data.reduce((a, b) => a + b, 0), 0),
    series: chart.data.datasets.map((d) => d.label),
    drawn: chart.getDatasetMeta(0).data.length,
    width: chart.width,
    height: chart.height,
    legend: chart.options.plugins.legend.display,
    titles: Object.values(chart.options.scales).map((s) => s.title.display && s.title.text),
  }]),
)"""


def chart_facts(page: Page) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = page.evaluate(CHART_FACTS)
    return facts


def refreshes(page: Page) -> int:
    return int(page.evaluate("Number(document.documentElement.dataset.refreshes || 0)"))


def page_shows(page: Page, minimum_events: int) -> bool:
    """The latest render holds at least `minimum_events` and the burst's critical episode."""
    total = chart_facts(page)["events"]["total"]
    critical = page.locator("#table-anomalies .badge-critical").count()
    return bool(total >= minimum_events and critical >= 1)


def test_dashboard_fills_live_and_follows_the_range(
    browser: Browser, service: ServiceProcess
) -> None:
    page, watch = open_dashboard(browser, service.ingest + "/", 1280, 900)

    # A new service: a clear empty state, and the command that fills it.
    assert page.locator("#empty-hint").is_visible()
    assert service.ingest in page.locator("#simulate-command").inner_text()
    assert page.locator(".chart-empty:visible").count() == 4
    assert "No events" in page.locator("#table-events tbody").inner_text()
    assert "No anomalies" in page.locator("#table-anomalies tbody").inner_text()

    # Live refresh: the data arrives without a reload (the marker survives).
    page.evaluate("window.__sameDocument = true")
    seed(service.ingest)
    wait_for(lambda: page_shows(page, SEEDED + 17), "the page to show the seeded events")
    assert page.evaluate("window.__sameDocument === true")
    assert page.locator("#empty-hint").is_hidden()
    assert page.locator(".chart-empty:visible").count() == 0

    facts = chart_facts(page)
    assert set(facts) == {"events", "types", "anomalies", "users"}
    for name, chart in facts.items():
        assert chart["labels"] > 0, name
        assert chart["total"] > 0, name
        assert chart["drawn"] > 0, name
        assert chart["width"] > 100 and chart["height"] > 100, name
        assert chart["legend"] is True, name
        assert all(chart["titles"]), name  # both axes carry a title
    assert facts["events"]["series"] == list(SENTIMENTS)
    assert facts["anomalies"]["series"] == ["warning", "critical"]
    assert facts["types"]["labels"] == len(TYPES)

    assert page.locator("#table-events tbody tr[data-event-id]").count() >= 20
    assert page.locator("#table-anomalies tbody tr[data-episode-id]").count() >= 1
    assert BURST_USER in page.locator("#table-anomalies tbody").inner_text()
    for label in SENTIMENTS:
        assert page.locator(f"#table-events .badge-{label}").count() >= 1, label

    # Data is text, never markup: the hostile strings show literally and run nothing.
    assert page.evaluate("window.__pwned === undefined")
    events_text = page.locator("#table-events tbody").inner_text()
    assert HOSTILE_USER in events_text
    assert "<script>" in events_text
    assert page.locator("#table-events tbody img, #table-events tbody script").count() == 0

    caption_15m = page.locator("#range-caption").inner_text()
    buckets_15m = facts["events"]["labels"]
    page.click("#range-selector span:text-is('7d')")
    page.wait_for_selector("html[data-range='7d']", state="attached")
    caption_7d = page.locator("#range-caption").inner_text()
    assert caption_7d != caption_15m
    assert "7 days" in caption_7d
    assert chart_facts(page)["events"]["labels"] != buckets_15m
    assert chart_facts(page)["events"]["total"] >= SEEDED + 17
    assert "#range=7d" in page.url
    page.click("#range-selector span:text-is('15m')")
    page.wait_for_selector("html[data-range='15m']", state="attached")
    # The same range; its bucket count may differ by one (30 when the window, which ends on a
    # 10-second boundary, happens to start on a bucket boundary).
    assert (
        page.locator("#range-caption").inner_text().split(" · ")[0] == caption_15m.split(" · ")[0]
    )
    page.mouse.move(0, 0)  # no hover highlight in the screenshot

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    watch.assert_clean()
    page.close()


def test_phone_width_does_not_overflow(browser: Browser, service: ServiceProcess) -> None:
    page, watch = open_dashboard(browser, service.ingest + "/", 390, 844)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for name, chart in chart_facts(page).items():
        assert 0 < chart["width"] <= 390, name
    # Wide tables scroll inside their own box instead of widening the page.
    box = page.locator("#table-events").evaluate("t => t.parentElement.scrollWidth")
    assert box > 390
    watch.assert_clean()
    page.close()


def test_read_key_form_when_auth_is_on(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    read_key, ingest_key = "sk_test_read_" + "r" * 30, "sk_test_ingest_" + "i" * 30
    process = ServiceProcess(tmp_path_factory.mktemp("auth"))
    with process.config.open("a") as config:
        for name, key, scopes in (("reader", read_key, "read"), ("writer", ingest_key, "ingest")):
            config.write(f'\n[[auth.keys]]\nname = "{name}"\nsha256 = "{digest(key)}"\n')
            config.write(f'scopes = ["{scopes}"]\n')
    with process:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(process.ingest + "/")

        page.wait_for_selector("#auth-panel", state="visible")
        assert page.locator("#dashboard").is_hidden()
        assert page.locator("#auth-message.auth-error").count() == 0

        def submit(key: str) -> None:
            page.fill("#auth-key", key)
            page.click("#auth-form button[type=submit]")

        submit("sk_wrong_key")
        page.wait_for_selector("#auth-message.auth-error", state="visible")
        assert "not accepted" in page.locator("#auth-message").inner_text()

        submit(ingest_key)
        wait_for(
            lambda: "lacks the read scope" in page.locator("#auth-message").inner_text(),
            "the missing-scope message",
        )

        submit(read_key)
        page.wait_for_selector("html[data-refreshes]", state="attached")
        assert page.locator("#auth-panel").is_hidden()
        assert page.locator("#dashboard").is_visible()
        assert page.evaluate("sessionStorage.getItem('signals.readKey')") == read_key

        page.reload()  # the key is kept for the browser session: no form again
        page.wait_for_selector("html[data-refreshes]", state="attached")
        assert page.locator("#auth-panel").is_hidden()

        page.click("#key-change")  # forgetting the key asks again
        page.wait_for_selector("#auth-panel", state="visible")
        assert page.evaluate("sessionStorage.getItem('signals.readKey')") is None
        assert errors == []
        page.close()
        assert process.stop() == 0, process.logs()


ROW_TEXTS = """(selector) =>
  Array.from(document.querySelectorAll(selector)).map((row) => row.innerText)"""


def row_texts(page: Page, selector: str) -> list[str]:
    texts: list[str] = page.evaluate(ROW_TEXTS, selector)
    return texts


def check_the_delivery(page: Page, receiver: WebhookReceiver, delivery_id: str) -> None:
    """The delivery's row shows it delivered, after a refused attempt and an accepted one."""
    delivery = f"#table-deliveries tbody tr[data-delivery-id='{delivery_id}']"

    def delivered() -> bool:
        rows = page.locator(delivery)
        return rows.count() == 1 and "delivered" in rows.inner_text()

    wait_for(delivered, "the delivery to show as delivered")
    shown = page.locator(delivery)
    assert f"{DRILL_USER} · search" in shown.inner_text()
    assert "critical" in shown.locator(".badge-critical").inner_text()
    attempts = shown.locator("ol.attempts li")
    assert attempts.count() == 2
    assert "HTTP 500" in attempts.nth(0).inner_text()
    assert "204 OK" in attempts.nth(1).inner_text()
    assert shown.locator("ol.attempts").get_attribute("aria-label") == "2 attempts"
    assert receiver.ids().count(delivery_id) == 2


def test_an_anomaly_shows_its_events_and_a_delivery_its_attempts(
    browser: Browser, service: ServiceProcess, receiver: WebhookReceiver
) -> None:
    page, watch = open_dashboard(browser, service.ingest + "/", 1280, 900)
    stats_requests: list[str] = []

    def note(request: Request) -> None:
        if "/v1/stats" in request.url:
            stats_requests.append(request.url)

    page.on("request", note)
    opened_at = time.monotonic()
    with httpx.Client(base_url=service.ingest, timeout=10) as client:
        for n in range(16):  # > 10: the 11th opens the episode; >= 15: critical, so alerted
            burst = {"user_id": DRILL_USER, "signal_type": "search", "text": f"drill {n}, urgent!"}
            assert client.post("/v1/log", json=burst).status_code == 202
    row = f"#table-anomalies tbody tr:has(td:text-is('{DRILL_USER}'))"
    page.wait_for_selector(row, timeout=DEADLINE_SECONDS * 1000)
    episode_id = page.locator(row).get_attribute("data-episode-id")

    # A click on the anomaly lists its events: from the one that opened it on.
    page.click(f"{row} td.ident >> nth=0")
    page.wait_for_selector(f"html[data-episode='{episode_id}']", state="attached")
    assert page.locator("#episode-panel").is_visible()
    assert page.evaluate("document.activeElement.id") == "episode-title"
    events = row_texts(page, "#table-episode-events tbody tr[data-event-id]")
    assert [text.count(DRILL_USER) for text in events] == [1] * 6
    assert all(f"drill {n}," in text for n, text in zip(range(15, 9, -1), events, strict=True))
    assert DRILL_USER in page.locator("#episode-sub").inner_text()
    button = page.locator(f"{row} button")
    assert button.get_attribute("aria-expanded") == "true"
    assert "selected" in (page.locator(row).get_attribute("class") or "")

    # The keyboard does the same: Escape closes and gives focus back, Enter opens again.
    page.keyboard.press("Escape")
    assert page.locator("#episode-panel").is_hidden()
    assert page.evaluate("document.documentElement.dataset.episode") is None
    assert page.evaluate("document.activeElement.getAttribute('aria-expanded')") == "false"
    assert page.evaluate("document.activeElement.closest('tr').dataset.episodeId") == episode_id
    page.keyboard.press("Enter")
    page.wait_for_selector(f"html[data-episode='{episode_id}']", state="attached")
    assert len(row_texts(page, "#table-episode-events tbody tr[data-event-id]")) == 6

    # The critical alert's delivery: refused once by the receiver, then delivered.
    check_the_delivery(page, receiver, f"msg_{episode_id}_critical")

    # The anomaly, its events and the deliveries, as the README shows them.
    page.evaluate("document.getElementById('anomalies-title').scrollIntoView()")
    page.evaluate("document.activeElement.blur()")
    page.mouse.move(0, 0)
    page.screenshot(path=str(ALERTS_SCREENSHOT))

    # At most one refresh every 5 s: the first at load, then one per period at most.
    elapsed = time.monotonic() - opened_at
    assert len(stats_requests) <= 2 + elapsed / 5, (len(stats_requests), elapsed)
    watch.assert_clean()
    page.close()
