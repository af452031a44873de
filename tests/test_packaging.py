"""A wheel of the project, installed into a fresh venv, serves the dashboard and its files.

The wheel is built by `pip wheel` (build isolation: a current setuptools) from a copy of the
sources outside the repository, so no stale `build/` tree leaks into it and the checkout stays
clean. The fresh venv gets the wheel alone (`--no-deps --no-index`); the dependencies, which are
not under test here, come from this interpreter's site-packages through a `.pth` line. A `.pth`
line only adds a directory: the `.pth` files inside it (this checkout's editable install among
them) are not run, so `signals` can only come from the wheel. `signals serve` then runs from yet
another directory, where no source tree is in reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from tests.support.service import ServiceProcess

from signals.runtime import WEB_DIR

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_SECONDS = 300


class Assets(HTMLParser):
    """Every `src` and `href` of a page's script, link and img tags."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "img"):
            self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def run(*argv: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, source, cwd=tmp)
    (wheel,) = wheels.glob("signals-*.whl")
    return wheel


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp)
    here = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site.strip()) / "dependencies.pth").write_text("\n".join(sorted(here)) + "\n")
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp)
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("packaging")
    venv = fresh_venv(tmp, build_wheel(tmp))
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    where = run(venv / "bin" / "python", "-c", "import signals; print(signals.__file__)",
                cwd=elsewhere)  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv), where
    with ServiceProcess(elsewhere, command=[str(venv / "bin" / "signals")]) as service:
        yield service
        assert service.stop() == 0, service.logs()


def test_the_installed_wheel_serves_the_dashboard_and_every_file_it_loads(
    installed: ServiceProcess,
) -> None:
    page = httpx.get(f"{installed.ingest}/", timeout=10)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assets = Assets()
    assets.feed(page.text)
    assert len(assets.urls) >= 4, assets.urls  # favicon, stylesheet, Chart.js, app.js
    for url in assets.urls:
        response = httpx.get(f"{installed.ingest}{url}", timeout=10)
        assert response.status_code == 200, url
        assert response.content == (WEB_DIR / url.removeprefix("/static/")).read_bytes(), url
