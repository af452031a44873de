"""Where the lexicon's phrases are in a message: Aho-Corasick automata, one pass over the text.

`Patterns.build(phrases)` compiles the phrases (with `ahocorasick_rs`, leftmost-longest); the
result is kept per set of phrases, so every Classifier of a process with the same phrases
shares it. `patterns.spans(padded)` lists the phrases found as (start - 1, end, phrase index),
in text order: the padded text is " " + the folded message, and each span starts one character
early, at the delimiter before the phrase.

What counts as found:
- A phrase that starts with an ASCII character (a word, ":)", a quoted "instant") must follow a
  delimiter (whitespace or punctuation, DELIMITERS: not "-", since "non-urgent" is not urgent,
  and not "'", the inside of "don't") that no earlier phrase took; one ending in a letter or
  digit must end a word. At each position the longest such phrase wins, and phrases do not
  overlap: "stress test" hides "stress", "not sure" is one phrase.
- A phrase that starts with any other character (emoji, "¯\\_(ツ)_/¯") is found anywhere, the
  longest at each position, without overlapping other such phrases (but it may overlap words).

The automaton finds the leftmost-longest occurrences in linear time without those conditions;
the few it reports that fail them ("so" at the start of "some", "no" inside "piano") are
dropped, and what they may have hidden is resolved exactly: a shorter phrase at the same start
(`_prefixes`), and, for a phrase with a delimiter inside ("not sure" at the start of "not
surely"), a rescan of a window at most twice the longest phrase long. No regular expression
with backtracking runs over the text, so every message costs time linear in its length.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

import ahocorasick_rs

# What may stand right before a phrase that starts with an ASCII character.
DELIMITERS = ' \t\n\r\f\v([{"/*,.;:!?<>=~'
Span = tuple[int, int, int]  # (phrase index, position of the delimiter before the phrase, end)
_Match = tuple[int, int, int]  # (phrase index, start, end), as the automaton reports it
POSITION = operator.itemgetter(1, 2)  # how spans sort into text order
# A message is read up to its MAX_SPANS-th phrase or mark (a "?", a run of "!"), and the
# automaton's first _MAX_MATCHES candidates: a realistic message has one per 21 characters,
# about 390 in the longest one ingest takes (8,192 characters), so only a crafted one is cut
# short, and its cost stays bounded however dense it is (8,192 emoji are 8,192 cues).
MAX_SPANS = 512
_MAX_MATCHES = 2 * MAX_SPANS
# Rescans (see _Finder._exact) per message, beyond which a dropped match is taken to hide
# nothing: dozens of phrases cut short ("not surely") are a crafted text, not a message.
_MAX_RESCANS = 64
_WINDOW = 1024  # characters of text searched at a time for _MAX_MATCHES
# 1 for the bytes of ASCII word characters (what \w matches), 0 for the others.
_WORD_BYTES = bytes(1 if chr(byte).isalnum() or byte == 0x5F else 0 for byte in range(128)) + bytes(
    128
)
_LEFTMOST_LONGEST = ahocorasick_rs.MatchKind.LeftmostLongest

# The characters most often after a phrase, none of them a word character: tested first.
_NOT_WORD = " ,.!?'\")-:;"
# The automaton takes UTF-8; a lone surrogate has none, and any non-word stand-in keeps positions.
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_word_char(char: str) -> bool:
    """What the `re` module's \\w matches in a str pattern."""
    return char.isalnum() or char == "_"


class _Finder:
    """One automaton, and what the checks and the exact path need to know of each phrase."""

    __slots__ = ("_delimited", "_find", "_hides", "_longest", "_offset", "_prefixes", "_whole")

    def __init__(self, phrases: list[str], offset: int, delimited: bool) -> None:
        self._find: Callable[[str], list[_Match]] = _nothing
        if phrases:
            automaton = ahocorasick_rs.AhoCorasick(phrases, matchkind=_LEFTMOST_LONGEST)
            self._find = automaton.find_matches_as_indexes
        self._offset = offset
        self._delimited = delimited
        self._whole = [is_word_char(phrase[-1]) for phrase in phrases]  # must end a word
        self._longest = max(map(len, phrases), default=1)
        number = {phrase: index for index, phrase in enumerate(phrases)}
        # The shorter phrases each one starts with, longest first: what holds at its start when
        # it does not end a word ("not sure" in "not surely": "not").
        self._prefixes = [
            [
                (cut, number[phrase[:cut]])
                for cut in range(len(phrase) - 1, 0, -1)
                if phrase[:cut] in number
            ]
            for phrase in phrases
        ]
        starts = frozenset(phrase[:cut] for phrase in phrases for cut in range(1, len(phrase) + 1))
        known = frozenset(number)
        self._hides = [_hides(phrase, starts, known, delimited) for phrase in phrases]

    def spans(self, text: str) -> list[Span]:
        """The phrases in `text` (see the module docstring), in text order, MAX_SPANS at most."""
        matches = self._first_matches(text)
        spans: list[Span] = []
        whole, hides, offset, size = self._whole, self._hides, self._offset, len(text)
        delimited = self._delimited
        taken = 0  # where the last phrase taken ends: its last character delimits nothing
        for position, (index, start, end) in enumerate(matches):
            if delimited and (start == taken or text[start - 1] not in DELIMITERS):
                # Inside a word ("no" in "piano"): nothing starts here.
                if hides[index]:
                    return self._exact(text, matches[position:], spans, taken)
                continue
            if (
                end == size
                or (char := text[end]) in _NOT_WORD
                or not whole[index]
                or not (char.isalnum() or char == "_")
            ):
                spans.append((index + offset, start - 1, end))
                taken = end
                continue
            # It does not end a word ("so" in "some"): a shorter phrase at its start may.
            if hides[index]:
                return self._exact(text, matches[position:], spans, taken)
            for cut, shorter in self._prefixes[index]:
                stop = start + cut
                if not whole[shorter] or not is_word_char(text[stop]):
                    spans.append((shorter + offset, start - 1, stop))
                    taken = stop
                    break
        return spans

    def _first_matches(self, text: str) -> list[_Match]:
        """The automaton's first _MAX_MATCHES matches, found a window at a time: a text dense
        with phrases (8,192 emoji) is not turned into thousands of matches to drop. A window
        keeps the matches that start a longest phrase or more before its end (the automaton
        saw all of each), and the next one starts where the first it dropped did, or where it
        stops being sure of being outside a match: as one pass over the text would have."""
        size, longest = len(text), self._longest
        if size <= _WINDOW:
            return self._matches(text, 0, size)[:_MAX_MATCHES]
        matches: list[_Match] = []
        start = 0
        while start < size and len(matches) < _MAX_MATCHES:
            stop = min(size, start + _WINDOW)
            found = self._matches(text, start, stop)
            if stop == size:
                matches += found
                break
            sure = stop - longest  # matches starting after this may be cut short
            kept = [match for match in found if match[1] <= sure]
            matches += kept
            if len(kept) < len(found):
                start = found[len(kept)][1]
            else:
                start = max(kept[-1][2] if kept else start, sure + 1)
        return matches[:_MAX_MATCHES]

    def _matches(self, text: str, start: int, stop: int) -> list[_Match]:
        window = text if start == 0 and stop == len(text) else text[start:stop]
        try:
            found = self._find(window)
        except UnicodeEncodeError:
            found = self._find(_SURROGATE.sub("\ufffd", window))
        if start:
            return [(index, first + start, last + start) for index, first, last in found]
        return found

    def _exact(self, text: str, matches: list[_Match], spans: list[Span], taken: int) -> list[Span]:
        """The rest of the matches, each checked, and what a dropped one hid looked for again.

        The next phrase may start at `taken + floor` at the earliest (`taken`: where the text
        taken so far ends; a phrase after a delimiter needs one that nothing took). A rescan
        window starts there and ends a longest phrase past the match that hid it, and each
        starts further on than the last: linear in the text, whatever its shape.
        """
        whole, prefixes, hides, offset = self._whole, self._prefixes, self._hides, self._offset
        delimited, size = self._delimited, len(text)
        floor = 1 if delimited else 0
        pending = matches[::-1]  # a stack, the next match on top
        budget = _MAX_MATCHES  # rescans put matches back: they count too
        rescans = _MAX_RESCANS
        while pending and len(spans) < MAX_SPANS and budget:
            budget -= 1
            index, start, end = pending.pop()
            if start < taken + floor:  # inside text already taken
                if hides[index] and taken + floor < end and rescans:
                    rescans -= 1
                    self._rescan(text, taken + floor, end, pending)
                continue
            taken = start + 1 - floor  # unless a phrase holds here, the next starts after
            if not delimited or text[start - 1] in DELIMITERS:
                for cut, shorter in [(end - start, index), *prefixes[index]]:
                    stop = start + cut
                    if stop == size or not whole[shorter] or not is_word_char(text[stop]):
                        spans.append((shorter + offset, start - 1, stop))
                        taken = stop
                        break
            if taken + floor < end and hides[index] and rescans:
                rescans -= 1
                self._rescan(text, taken + floor, end, pending)
        return spans

    def _rescan(self, text: str, start: int, end: int, pending: list[_Match]) -> None:
        """Put back the matches from `start` on that begin before `end`."""
        window = self._matches(text, start, min(len(text), end + self._longest))
        pending.extend(reversed([match for match in window if match[1] < end]))


class _Marked:
    """The exact path for ASCII text, where the automaton alone decides: no match is checked.

    The text is rewritten as bytes, one for one, so that both conditions are in it: each
    delimiter that no phrase contains becomes a space, and the last character of every word
    (a letter, digit or "_" before anything else) gets its high bit set, which no ASCII
    character has. Each phrase is a key once per delimiter that can stand before it, rewritten
    the same way. A key then matches exactly where the phrase follows a delimiter and, if it
    ends in a word character, ends a word; leftmost-longest and non-overlapping, as phrases are
    to be taken. The rewrite is a few operations on the whole text (bytes.translate and one
    big integer with a byte per character), not a loop over its characters.
    """

    __slots__ = ("_find", "_recode", "phrases")

    def __init__(self, phrases: list[str]) -> None:
        inside = {char for phrase in phrases for char in phrase if char in DELIMITERS}
        leads = [" ", *sorted(inside - {" "})]
        recode = {ord(char): 0x20 for char in DELIMITERS if char not in inside}
        self._recode = bytes(recode.get(byte, byte) for byte in range(256))
        ascii_phrases = [phrase for phrase in phrases if phrase.isascii()]
        # The phrase of each key, without the delimiter before it.
        self.phrases = [phrase for phrase in ascii_phrases for _ in leads]
        keys = [self._mark(lead + phrase) for phrase in ascii_phrases for lead in leads]
        self._find: Callable[[bytes], list[_Match]] = _nothing
        if keys:
            automaton = ahocorasick_rs.BytesAhoCorasick(keys, matchkind=_LEFTMOST_LONGEST)
            self._find = automaton.find_matches_as_indexes

    def _mark(self, text: str) -> bytes:
        recoded = text.encode("ascii").translate(self._recode)
        words = int.from_bytes(recoded.translate(_WORD_BYTES), "big")  # 1 in each word byte
        ends = words & ~(words << 8)  # a word byte whose next byte (or the end) is not one
        return (int.from_bytes(recoded, "big") | ends << 7).to_bytes(len(recoded), "big")

    def spans(self, padded: str) -> list[Span]:
        """The phrases of an ASCII text, as (key index, delimiter position, end)."""
        return self._find(self._mark(padded))[:MAX_SPANS]


def _hides(phrase: str, starts: frozenset[str], phrases: frozenset[str], delimited: bool) -> bool:
    """Whether a match of `phrase` may hide another phrase that starts inside it: one that
    begins with the rest of it from some inner position, or that the rest begins with.
    `starts` holds every beginning of every phrase. For phrases after a delimiter, only inner
    positions right after a delimiter count."""
    for inner in range(1, len(phrase)):
        if delimited and phrase[inner - 1] not in DELIMITERS:
            continue
        rest = phrase[inner:]
        if rest in starts or any(rest[:cut] in phrases for cut in range(1, len(rest))):
            return True
    return False


def _nothing(text: str | bytes) -> list[_Match]:
    return []


class Patterns(NamedTuple):
    phrases: tuple[str, ...]  # the phrase of each index a span can carry
    marked: _Marked  # ASCII text
    words: _Finder  # other text: phrases that start with an ASCII character ...
    symbols: _Finder  # ... and the others

    @classmethod
    def build(cls, phrases: Iterable[str]) -> Patterns:
        return _compile(frozenset(phrases))

    def spans(self, padded: str) -> list[Span]:
        """Every phrase in the padded text, in text order."""
        if padded.isascii():
            return self.marked.spans(padded)
        spans = self.words.spans(padded)
        if symbols := self.symbols.spans(padded):
            spans += symbols
            spans.sort(key=POSITION)
            del spans[MAX_SPANS:]
        return spans


@functools.lru_cache(maxsize=8)
def _compile(phrases: frozenset[str]) -> Patterns:
    ordered = sorted(phrases)
    words = [phrase for phrase in ordered if phrase[0].isascii()]
    others = [phrase for phrase in ordered if not phrase[0].isascii()]
    marked = _Marked(words)
    indexes = (*marked.phrases, *words, *others)
    size = len(marked.phrases)
    return Patterns(
        indexes, marked, _Finder(words, size, True), _Finder(others, size + len(words), False)
    )
