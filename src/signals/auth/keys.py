"""API keys: settings hold SHA-256 digests only; a presented key is hashed once and compared
with every configured digest in constant time.

`Keyring.lookup` compares against all digests, never stopping at the first match, so the time it
takes says nothing about which key (or how much of one) matched. `keygen` makes a new key and the
`[[auth.keys]]` stanza that configures it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from typing import get_args

from signals.errors import UsageError
from signals.settings import ApiKey, Scope

KEY_PREFIX = "sk_"
KEY_BYTES = 32
MAX_NAME_CHARS = 64
SCOPES: tuple[str, ...] = get_args(Scope)

API_KEY_HEADER = b"x-api-key"
AUTHORIZATION_HEADER = b"authorization"


def digest(key: str) -> str:
    """The hex SHA-256 of a key, as `[[auth.keys]] sha256` holds it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Keyring:
    """The configured keys, looked up by the digest of a presented key."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._entries = [(bytes.fromhex(key.sha256), key) for key in keys]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, presented: bytes) -> ApiKey | None:
        presented_digest = hashlib.sha256(presented).digest()
        found: ApiKey | None = None
        for expected, key in self._entries:
            # compare_digest runs first on every entry; no early exit on a match.
            if hmac.compare_digest(presented_digest, expected) and found is None:
                found = key
        return found


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The key from `X-API-Key`, else from `Authorization: Bearer`; None when neither holds one."""
    api_key = bearer = b""
    for name, value in headers:
        if name == API_KEY_HEADER:
            api_key = value.strip()
        elif name == AUTHORIZATION_HEADER:
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer":
                bearer = token.strip()
    return api_key or bearer or None


def _toml_string(text: str) -> str:
    """A TOML basic string of printable text: only quotes and backslashes need escaping."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def keygen(name: str, scopes: list[str]) -> tuple[str, str]:
    """A new key and its `[[auth.keys]]` stanza. Raises UsageError for a bad name or scope."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise UsageError(f"key name must be 1 to {MAX_NAME_CHARS} characters")
    if not name.isprintable():
        raise UsageError("key name must be printable text (no control characters)")
    if not scopes:
        raise UsageError(f"at least one scope is required ({', '.join(SCOPES)})")
    for scope in scopes:
        if scope not in SCOPES:
            raise UsageError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    scope_list = ", ".join(_toml_string(scope) for scope in dict.fromkeys(scopes))
    stanza = (
        "[[auth.keys]]\n"
        f"name = {_toml_string(name)}\n"
        f'sha256 = "{digest(key)}"\n'
        f"scopes = [{scope_list}]"
    )
    return key, stanza
