"""The compiled regular expressions that find lexicon phrases in one pass over a message.

`Patterns.build(phrases)` folds the phrases into tries and writes each out as nested
alternations, so the engine follows one branch per character instead of trying each phrase in
turn; at every node the longer continuation is tried before the phrase that ends there, so the
longest phrase wins at each position. A space in a phrase matches any run of whitespace.

- `words` finds the phrases that start with an ASCII character ("not sure", ":)", a quoted
  "instant"). Each match begins with the delimiter before the phrase (whitespace or
  punctuation), which the caller skips; a leading delimiter is cheap for the engine to scan for,
  and it keeps phrases on word starts ("https://" has no ":/" in it). Phrases ending in a letter
  or digit must end a word.
- `symbols` finds emoji and other non-ASCII phrases anywhere; it is only needed when the text is
  not plain ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

_END = ""  # the trie key that marks the end of a phrase; never a character
# What may stand right before a phrase. Not "-" ("non-urgent" is not urgent) and not "'"
# (the inside of "don't"). The text is given a leading space so its first word has one too.
DELIMITERS = " \t\n\r\f\v([{\"/*,.;:!?<>=~"

_Trie = dict[str, "_Trie"]  # a node: its children by character, plus _END where a phrase ends


class Patterns(NamedTuple):
    words: re.Pattern[str]
    symbols: re.Pattern[str] | None

    @classmethod
    def build(cls, phrases: Iterable[str]) -> Patterns:
        ascii_led: list[str] = []
        others: list[str] = []
        for phrase in phrases:
            (ascii_led if phrase[0].isascii() else others).append(phrase)
        delimiters = "[" + re.escape(DELIMITERS) + "]"
        words = re.compile(delimiters + _emit(_trie(ascii_led), False))
        symbols = re.compile(_emit(_trie(others), False)) if others else None
        return cls(words, symbols)


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _atom(char: str) -> str:
    return r"\s+" if char == " " else re.escape(char)


def _emit(node: _Trie, after_word: bool) -> str:
    branches = [
        _atom(char) + _emit(child, _is_word(char))
        for char, child in sorted(node.items())
        if char != _END
    ]
    if _END in node:
        branches.append(r"(?!\w)" if after_word else "")
    if len(branches) <= 1:
        return branches[0] if branches else "(?!)"
    return "(?:" + "|".join(branches) + ")"


def _trie(phrases: Iterable[str]) -> _Trie:
    root: _Trie = {}
    for phrase in phrases:
        node = root
        for char in phrase:
            node = node.setdefault(char, {})
        node[_END] = {}
    return root
