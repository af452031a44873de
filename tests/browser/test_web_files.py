"""The dashboard's files keep to what the service's CSP (`default-src 'self'`, no inline script
or style, no eval) and the no-external-request rule allow. No browser needed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from signals.runtime import WEB_DIR as WEB

CHARTJS = WEB / "vendor" / "chartjs"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


def parsed_index() -> Tags:
    tags = Tags()
    tags.feed((WEB / "index.html").read_text())
    return tags


def test_index_has_no_inline_code_and_loads_only_its_own_files() -> None:
    tags = parsed_index()
    assert not tags.inline_script
    assert all(tag != "style" for tag, _ in tags.tags)
    for tag, attrs in tags.tags:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], tag
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None and tag != "a":
                assert value.startswith("/static/"), (tag, value)
    loaded = {attrs.get("src") or attrs.get("href") for tag, attrs in tags.tags
              if tag in ("script", "link")}  # fmt: skip
    for url in loaded:
        assert url is not None
        assert (WEB / url.removeprefix("/static/")).is_file(), url


def test_no_external_urls_eval_or_markup_injection() -> None:
    for path in (WEB / "index.html", WEB / "app.js", WEB / "style.css"):
        text = path.read_text()
        assert not re.search(r"(?<![\w.])(https?:)?//[a-z0-9-]+\.[a-z]", text, re.I), path
        assert "@import" not in text, path
    script = (WEB / "app.js").read_text()
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function"):
        assert forbidden not in script, forbidden
    assert "document.write" not in script


def test_vendored_chartjs_is_pinned_and_requests_no_source_map() -> None:
    version = (CHARTJS / "VERSION").read_text().strip()
    bundle = (CHARTJS / "chart.umd.min.js").read_text()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert f"Chart.js v{version}" in bundle[:200]
    assert "sourceMappingURL" not in bundle
    assert "eval(" not in bundle and "new Function" not in bundle
    assert "MIT" in (CHARTJS / "LICENSE.md").read_text()
    assert version in (CHARTJS / "README.md").read_text()
