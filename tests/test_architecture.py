"""The layout is the architecture: the two ports meet only through shared contracts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "signals"
PORTS = ("signals.ingest", "signals.integrity")


def names_in(package: str) -> set[str]:
    return {path.name for path in (SRC / package).iterdir() if not path.name.startswith("_")}


def imports_of(package: str) -> set[str]:
    found: set[str] = set()
    for path in (SRC / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


def test_ingest_and_integrity_do_not_import_each_other() -> None:
    assert not any(name.startswith("signals.integrity") for name in imports_of("ingest"))
    assert not any(name.startswith("signals.ingest") for name in imports_of("integrity"))


@pytest.mark.parametrize(
    "package", ["store", "journal", "jetstream", "records", "accept", "sentiment", "auth"]
)
def test_shared_infrastructure_imports_neither_port(package: str) -> None:
    ports = [name for name in imports_of(package) if name.startswith(PORTS)]
    assert ports == [], f"{package}/ depends on a port's module: {ports}"


def test_each_port_holds_its_parts() -> None:
    """A newcomer who opens a port's package finds what it does there, by name."""
    assert {"app.py", "history.py", "forwarder.py"} <= names_in("ingest")
    assert {"app.py", "history.py", "consumer.py", "detection.py", "handoff.py"} <= names_in(
        "integrity"
    )
    assert {"windows", "episodes", "alerts"} <= names_in("integrity")
    assert {"sqlite", "postgres"} <= names_in("store")


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(SRC)): len(path.read_text().splitlines()) for path in SRC.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > 400} == {}


def test_no_print_in_the_service() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
    ]
    assert offenders == []
