"""Shared inputs of the windows tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from signals.integrity.windows.base import Windows

# An epoch time with a fraction, so float rounding at the window edge would show.
BASE = 1_767_225_600.123456

# User ids that a naive key format would mix up, or that a careless encoding would break on.
TRICKY_USERS = [
    "a", "a:", ":a", "a:b", "a b", " a", "a ", "1:a", "a:w:1:a:message", "é", "e\u0301",
    "😀", "😀:😀", "ü" * 128, "x" * 128, "x" * 5000, "*", "?", "[a]", "\\", "a\nb", "\u2028",
]  # fmt: skip

MakeWindows = Callable[..., Awaitable[Windows]]
