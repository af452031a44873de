"""The compiled regular expressions that find lexicon phrases in one pass over a message.

`Patterns.build(phrases)` folds the phrases into tries and writes each out as nested
alternations, so the engine follows one branch per character instead of trying each phrase in
turn; at every node the longer continuation is tried before the phrase that ends there, so the
longest phrase wins at each position. Phrases and text both have single spaces between words
(the caller folds other whitespace), so every step is a plain character the engine can skip
past cheaply; children are tried in order of English letter frequency for the same reason.
Compiling the lexicon's tens of thousands of pattern characters takes about a tenth of a second
(the `re` parser is pure Python), so the result is kept per set of phrases: every Classifier of
a process with the same phrases shares it.

- `words` finds the phrases that start with an ASCII character ("not sure", ":)", a quoted
  "instant"). Each match begins with the delimiter before the phrase (whitespace or
  punctuation), which the caller skips; a leading delimiter is cheap for the engine to scan for,
  and it keeps phrases on word starts ("https://" has no ":/" in it). Phrases ending in a letter
  or digit must end a word.
- `symbols` matches an emoji or other non-ASCII phrase at a given position, and `symbol_starts`
  finds the positions worth trying. A class listing the emoji themselves would be tested one
  character at a time (they lie outside the Basic Multilingual Plane); a few ranges are fast.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import NamedTuple

_END = ""  # the trie key that marks the end of a phrase; never a character
# What may stand right before a phrase. Not "-" ("non-urgent" is not urgent) and not "'"
# (the inside of "don't"). The text is given a leading space so its first word has one too.
DELIMITERS = ' \t\n\r\f\v([{"/*,.;:!?<>=~'

_Trie = dict[str, "_Trie"]  # a node: its children by character, plus _END where a phrase ends


class Patterns(NamedTuple):
    words: re.Pattern[str]
    symbols: re.Pattern[str]
    symbol_starts: re.Pattern[str]

    @classmethod
    def build(cls, phrases: Iterable[str]) -> Patterns:
        return _compile(frozenset(phrases))


@functools.lru_cache(maxsize=8)
def _compile(phrases: frozenset[str]) -> Patterns:
    ascii_led: list[str] = []
    others: list[str] = []
    for phrase in phrases:
        (ascii_led if phrase[0].isascii() else others).append(phrase)
    delimiters = "[" + re.escape(DELIMITERS) + "]"
    words = re.compile(delimiters + _emit(_trie(ascii_led), False))
    symbols = re.compile(_emit(_trie(others), False))
    return Patterns(words, symbols, re.compile(_ranges(phrase[0] for phrase in others)))


def _ranges(chars: Iterable[str], gap: int = 256) -> str:
    """A character class of ranges covering `chars`, merging those less than `gap` apart."""
    points = sorted({ord(char) for char in chars})
    if not points:
        return "(?!)"
    spans = [[points[0], points[0]]]
    for point in points[1:]:
        if point - spans[-1][1] < gap:
            spans[-1][1] = point
        else:
            spans.append([point, point])
    ranges = (f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in spans)
    return "[" + "".join(ranges) + "]"


# Space first (it follows every complete word), then letters by how often English uses them.
_ORDER = {char: rank for rank, char in enumerate(" etaoinshrdlcumwfgypbvkjxqz")}


def _order(char: str) -> tuple[int, str]:
    return _ORDER.get(char, len(_ORDER)), char


def _escape(char: str) -> str:
    # Letters, digits, spaces and apostrophes stand for themselves: the parser reads an escape
    # more slowly, and this pattern runs to tens of thousands of characters.
    return char if char.isalnum() or char in " '" else re.escape(char)


def _emit(node: _Trie, after_word: bool) -> str:
    # A chain of nodes with one child each (most of the trie) is written out in one go.
    chain = []
    while len(node) == 1 and _END not in node:
        ((char, node),) = node.items()
        chain.append(_escape(char))
        after_word = char.isalnum() or char == "_"
    branches = [
        _escape(char) + _emit(node[char], char.isalnum() or char == "_")
        for char in sorted(node, key=_order)
        if char != _END
    ]
    if _END in node:
        # After a letter or digit the phrase must end its word. Right after a word character,
        # \b says exactly what (?!\w) would, and it is a single step for the engine.
        branches.append(r"\b" if after_word else "")
    if len(branches) <= 1:
        return "".join(chain) + (branches[0] if branches else "(?!)")
    return "".join(chain) + "(?:" + "|".join(branches) + ")"


def _trie(phrases: Iterable[str]) -> _Trie:
    root: _Trie = {}
    for phrase in phrases:
        node = root
        for char in phrase:
            node = node.setdefault(char, {})
        node[_END] = {}
    return root
