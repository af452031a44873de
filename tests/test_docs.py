"""The documentation is self-contained: every relative link in README.md and docs/ reaches a file
in the repository (and its anchor a heading there), nothing in the repository points at a place
outside it, and docs/settings.md lists every settings key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from signals.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Where the repository's own text lives; data/, .venv/ and caches are not the repository's.
SOURCES = ["README.md", "CHANGELOG.md", "settings.toml", "pyproject.toml", ".ci", "benchmarks",
           "deploy", "docs", "src", "tests"]  # fmt: skip
TEXT_SUFFIXES = {"", ".py", ".md", ".toml", ".yml", ".yaml", ".json", ".txt", ".cfg", ".sh"}
# Spelled in pieces so this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\./" + "shared",
            r'"\.\."\s*/\s*"' + 'shared"',  # the same, joined as a Path
            "/" + "work/",
            r"\bSPEC" + r" §",
            r"\bissue [0-9]",
        ]
    )
)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE = re.compile(r"``.+?``|`[^`\n]+`")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def prose(markdown: str) -> str:
    """The text outside code blocks and code spans, where links are links."""
    return CODE.sub("", FENCE.sub("", markdown))


def links(path: Path) -> list[str]:
    text = prose(path.read_text())
    return INLINE_LINK.findall(text) + REFERENCE.findall(text)


def anchors(path: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces as hyphens, repeats -1, -2."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) and not target.startswith("//")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document: Path) -> None:
    broken = []
    for target in filter(relative, links(document)):
        name, _, anchor = target.partition("#")
        destination = (document.parent / name).resolve() if name else document
        if not destination.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_the_documents_link_to_each_other() -> None:
    """Every page under docs/ is reachable from the README."""
    reached = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    assert {page for page in DOCUMENTS if page.parent.name == "docs"} <= reached


def repository_text() -> Iterator[Path]:
    for name in SOURCES:
        top = ROOT / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            skipped = {"__pycache__", ".hypothesis"} & set(path.parts) or ".egg-info" in str(path)
            if path.is_file() and path.suffix in TEXT_SUFFIXES and not skipped:
                yield path


def test_nothing_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in repository_text()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def settings_keys(struct: type[msgspec.Struct], prefix: str = "") -> Iterator[str]:
    for field in msgspec.structs.fields(struct):
        kind: Any = field.type
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            yield from settings_keys(kind, f"{prefix}{field.name}.")
        else:
            yield prefix + field.name


def test_every_settings_key_is_documented() -> None:
    documented = set(
        re.findall(r"^\| `([a-z_.<>]+)` \|", (ROOT / "docs" / "settings.md").read_text(), re.M)
    )
    # a table of its own (`thresholds`) is documented by its keys (`thresholds.default`)
    missing = {key for key in settings_keys(Settings) if key not in documented
               and not any(name.startswith(key + ".") for name in documented)}  # fmt: skip
    assert missing == set()
