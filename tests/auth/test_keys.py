"""Digests, constant-time lookup over every key, key extraction, and `keygen`."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from signals.auth.keys import Keyring, digest, keygen, presented_key
from signals.errors import UsageError
from signals.settings import ApiKey, load


def key(name: str, plaintext: str) -> ApiKey:
    return ApiKey(name=name, sha256=digest(plaintext), scopes=["read"])


def test_digest_is_hex_sha256_of_the_utf8_key() -> None:
    assert digest("sk_abc") == hashlib.sha256(b"sk_abc").hexdigest()


def test_lookup_finds_each_of_several_active_keys() -> None:
    ring = Keyring([key("old", "sk_old"), key("new", "sk_new")])
    found_old, found_new = ring.lookup(b"sk_old"), ring.lookup(b"sk_new")
    assert found_old is not None and found_old.name == "old"
    assert found_new is not None and found_new.name == "new"


@pytest.mark.parametrize("presented", [b"", b"sk_ol", b"sk_old ", b"SK_OLD", b"sk_old\x00"])
def test_lookup_refuses_anything_but_the_exact_key(presented: bytes) -> None:
    assert Keyring([key("old", "sk_old")]).lookup(presented) is None


def test_lookup_of_a_configured_digest_as_the_key_fails() -> None:
    """Settings hold digests; presenting a digest itself must not authenticate."""
    ring = Keyring([key("old", "sk_old")])
    assert ring.lookup(digest("sk_old").encode()) is None


def test_a_rotated_out_key_is_unknown_to_the_new_ring() -> None:
    before = Keyring([key("old", "sk_old"), key("new", "sk_new")])
    after = Keyring([key("new", "sk_new")])
    assert before.lookup(b"sk_old") is not None
    assert after.lookup(b"sk_old") is None
    assert after.lookup(b"sk_new") is not None


def test_duplicate_digests_resolve_to_the_first_key() -> None:
    ring = Keyring([key("first", "sk_same"), key("second", "sk_same")])
    found = ring.lookup(b"sk_same")
    assert found is not None and found.name == "first"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"x-api-key", b"sk_a")], b"sk_a"),
        ([(b"authorization", b"Bearer sk_b")], b"sk_b"),
        ([(b"authorization", b"bearer   sk_b  ")], b"sk_b"),
        ([(b"authorization", b"BEARER sk_b")], b"sk_b"),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
        ([(b"authorization", b"Bearer")], None),
        ([(b"authorization", b"sk_b")], None),
        ([(b"x-api-key", b"")], None),
        ([(b"x-api-key", b"  ")], None),
        ([(b"x-api-key", b"sk_a"), (b"authorization", b"Bearer sk_b")], b"sk_a"),
        ([(b"x-api-key", b""), (b"authorization", b"Bearer sk_b")], b"sk_b"),
        ([(b"accept", b"*/*")], None),
        ([], None),
    ],
)
def test_presented_key(headers: list[tuple[bytes, bytes]], expected: bytes | None) -> None:
    assert presented_key(headers) == expected


def test_keygen_makes_a_fresh_key_and_a_stanza_holding_its_digest_only() -> None:
    key_a, stanza = keygen("ci", ["ingest", "read"])
    key_b, _ = keygen("ci", ["ingest", "read"])
    assert key_a.startswith("sk_") and len(key_a) >= 40 and key_a != key_b
    assert key_a not in stanza
    assert stanza == (
        f'[[auth.keys]]\nname = "ci"\nsha256 = "{digest(key_a)}"\nscopes = ["ingest", "read"]'
    )


@pytest.mark.parametrize("name", ["ci", 'quote"d', "back\\slash", "ünïcode", "x" * 64])
def test_keygen_stanza_loads_as_settings_and_authenticates_the_key(
    tmp_path: Path, name: str
) -> None:
    key_text, stanza = keygen(name, ["admin", "admin", "read"])
    config = tmp_path / "settings.toml"
    config.write_text(stanza + "\n", encoding="utf-8")
    settings = load(config, environ={})
    (configured,) = settings.auth.keys
    assert configured.name == name
    assert configured.scopes == ["admin", "read"]
    found = Keyring(settings.auth.keys).lookup(key_text.encode())
    assert found is not None and found.name == name


@pytest.mark.parametrize(
    ("name", "scopes", "message"),
    [
        ("", ["read"], "1 to 64"),
        ("x" * 65, ["read"], "1 to 64"),
        ("tab\there", ["read"], "printable"),
        ("ci", [], "at least one scope"),
        ("ci", ["read", "write"], "'write' is not one of ingest, read, admin"),
    ],
)
def test_keygen_refuses_bad_names_and_scopes(name: str, scopes: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        keygen(name, scopes)


def signals_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # A subprocess: the CLI configures logging for the whole process it runs in.
    return subprocess.run(
        [sys.executable, "-m", "signals", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_keygen_prints_the_key_then_the_stanza() -> None:
    done = signals_cli("keygen", "--name", "dashboard", "--scopes", "read")
    assert done.returncode == 0, done.stderr
    key_line, _, stanza = done.stdout.partition("\n")
    assert key_line.startswith("sk_")
    assert f'sha256 = "{digest(key_line)}"' in stanza
    assert 'scopes = ["read"]' in stanza


def test_cli_keygen_needs_no_arguments(tmp_path: Path) -> None:
    first, second = signals_cli("keygen"), signals_cli("keygen")
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    key_line, _, stanza = first.stdout.strip().partition("\n\n")
    assert 'name = "key-' in stanza and 'scopes = ["ingest", "read"]' in stanza
    assert first.stdout != second.stdout
    # Both stanzas together are valid settings (the names differ), and the key authenticates.
    config = tmp_path / "settings.toml"
    config.write_text(stanza + "\n\n" + second.stdout.strip().partition("\n\n")[2] + "\n")
    settings = load(config, {})
    assert Keyring(settings.auth.keys).lookup(key_line.encode()) == settings.auth.keys[0]


def test_cli_keygen_refuses_an_unknown_scope_with_exit_2() -> None:
    done = signals_cli("keygen", "--name", "x", "--scopes", "read,root")
    assert done.returncode == 2
    assert "'root' is not one of" in done.stderr
    assert "sk_" not in done.stdout
