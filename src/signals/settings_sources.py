"""Where settings values come from: the settings file, and `SIGNALS__SECTION__KEY` variables.

`resolve_path` picks the file, `apply_environ` lays the variables over the file's tree and
remembers which variable set which key, and `origin` / `origin_of` say where a key's value came
from, so that every problem line names it (the file, or the variable).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

ENV_PREFIX = "SIGNALS__"
DEFAULT_CONFIG_FILE = "settings.toml"


def resolve_path(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    """`--config`, else `SIGNALS_CONFIG`, else `./settings.toml` when present, else defaults."""
    if path is not None:
        return Path(path)
    if environ.get("SIGNALS_CONFIG"):
        return Path(environ["SIGNALS_CONFIG"])
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


def _env_value(raw: str) -> Any:
    """An environment value is read as a TOML value when it parses as one, else as a string."""
    try:
        return msgspec.toml.decode(f"v = {raw}".encode())["v"]
    except msgspec.DecodeError:
        return raw


def _env_parts(name: str) -> list[str]:
    """The key path a `SIGNALS__SECTION__KEY` variable sets, lower-cased, one part per level."""
    return [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]


def apply_environ(
    tree: dict[str, Any], environ: Mapping[str, str], origins: dict[str, str]
) -> list[str]:
    problems = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = _env_parts(name)
        if not all(parts):
            problems.append(f"{name}: malformed variable name")
            continue
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"{name}: {'.'.join(parts)}: {part} is not a section")
                break
            node = child
        else:
            node[parts[-1]] = _env_value(raw)
            origins[".".join(parts)] = name
    return problems


def origin(path: str, origins: Mapping[str, str], source: str) -> str:
    """The environment variable that set `path` (or a parent of it), else the file."""
    for key, variable in origins.items():
        if path == key or path.startswith((key + ".", key + "[")) or key.startswith(path + "."):
            return variable
    return source


def origin_of(
    key: str, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """Where the value at `key` ("ingest.host") came from, as `load(path, environ)` read it: the
    environment variable that set it, else the settings file, else "(defaults)"."""
    environ = os.environ if environ is None else environ
    origins = {".".join(_env_parts(name)): name for name in environ if name.startswith(ENV_PREFIX)}
    config = resolve_path(path, environ)
    return origin(key, origins, str(config) if config else "(defaults)")


def non_finite(value: Any, path: str) -> str | None:
    """The path of an `inf` or `nan` in `value`, if any. TOML has both and no setting means
    either (`0` is how a retention keeps everything): an infinite timeout or retention would
    only break the arithmetic it feeds once the service runs, so it is refused at start."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = non_finite(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")
        if found is not None:
            return found
    return None
