"""Where a body that is not JSON broke, for the `malformed_json` message (docs/api.md).

msgspec names the byte for a syntax error, but not for a body that ends early (the byte it ends
at is said, or that it is empty), for bytes that are not UTF-8, for a number that no float or
integer holds (`1e400`, thousands of digits), or past its nesting limit (a RecursionError): for
those it says nothing, or a path whose object keys are all `[...]`. They are located here, after
the decoder has refused the body, so the cost falls on bad bodies only.
"""

from __future__ import annotations

import re

import msgspec

_UTF8 = "Invalid UTF-8 encoded string"
_OUT_OF_RANGE = ("Number out of range", "Integer value out of range")
# A string is matched whole, so the digits inside one are never taken for a number.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')


def where_it_broke(message: str, body: bytes) -> str:
    """The decoder's `message`, with the byte it is about when msgspec did not name one."""
    if message == "Input data was truncated":
        size = len(body)
        return f"{message}: the body ends at byte {size}, mid-value" if size else "empty body"
    if message == _UTF8:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"{message} (byte {exc.start})"
        return message
    head = message.split(" - at ", 1)[0]
    if head in _OUT_OF_RANGE:
        for match in _TOKEN.finditer(body):
            if match[0][:1] != b'"' and not _decodes(match[0]):
                return f"{head} (byte {match.start()})"
    return message


def _decodes(number: bytes) -> bool:
    try:
        msgspec.json.decode(number)
    except msgspec.DecodeError:
        return False
    return True


# Brackets and strings: a bracket inside a string does not nest.
_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]')


def too_deep(body: bytes) -> str:
    """For a body past the decoder's nesting limit (about 1000 levels): how deep it goes and the
    byte where it first gets that deep."""
    depth = deepest = at = 0
    for match in _NESTING.finditer(body):
        token = match[0]
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest, at = depth, match.start()
        elif token in (b"]", b"}"):
            depth -= 1
    return f"JSON nests too deeply ({deepest} levels at byte {at})"
