"""One compiled regular expression that finds every lexicon phrase in a single pass.

`compile_phrases(phrases)` folds the phrases into a trie and writes it out as nested
alternations, so the engine follows one branch per character instead of trying each phrase in
turn; at every node the longer continuation is tried before the phrase that ends there, so the
longest phrase wins at each position. Phrases are matched on whole words: one that starts with
a letter or digit must start a word and one that ends with one must end a word. A space in a
phrase matches any run of whitespace. Question marks and runs of "!" and "?" are matched too, so
that questions and emphasis cost no second pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""  # the trie key that marks the end of a phrase; never a character
# A question mark, or a run of them and exclamation marks; one "!" is just punctuation.
SENTENCE_CLOSE = r"[!?]*\?[!?]*|!{2,}"

_Trie = dict[str, "_Trie"]  # a node: its children by character, plus _END where a phrase ends


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
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


def _trie(phrases: Iterable[str]) -> _Trie:
    root: _Trie = {}
    for phrase in phrases:
        node = root
        for char in phrase:
            node = node.setdefault(char, {})
        node[_END] = {}
    return root


def compile_phrases(phrases: Iterable[str]) -> re.Pattern[str]:
    """Compile normalised phrases (see `lexicon.normalize`) into one alternation."""
    by_start: dict[str, list[str]] = {"word": [], "ascii": [], "other": []}
    for phrase in phrases:
        first = phrase[0]
        kind = "word" if _is_word(first) else "ascii" if first.isascii() else "other"
        by_start[kind].append(phrase)
    alternatives = []
    # A word boundary rejects most positions (the middle of a word) before any branching.
    if by_start["word"]:
        alternatives.append(r"\b" + _emit(_trie(by_start["word"]), False))
    # Punctuation-led phrases (":)", a quoted word) must not be glued to a word ("https://").
    # The lookahead lets the engine reject every other character with one set test.
    ascii_led = by_start["ascii"]
    firsts = "".join(sorted({phrase[0] for phrase in ascii_led} | {"!", "?"}))
    ascii_alternatives = [SENTENCE_CLOSE]
    if ascii_led:
        ascii_alternatives.insert(0, r"(?<!\w)" + _emit(_trie(ascii_led), False))
    alternatives.append(f"(?=[{re.escape(firsts)}])(?:{'|'.join(ascii_alternatives)})")
    # Emoji and other symbols stand on their own.
    if by_start["other"]:
        others = by_start["other"]
        firsts = "".join(sorted({phrase[0] for phrase in others}))
        alternatives.append(f"(?=[{re.escape(firsts)}]){_emit(_trie(others), False)}")
    return re.compile("|".join(alternatives))
