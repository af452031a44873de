"""The classifier: one pass of the lexicon's patterns over the text, then a weighted vote.

`Classifier(settings)` builds the lexicon (shipped file plus overrides) and compiles its
patterns; `classify(text)` is pure CPU with no I/O, cheap enough to call inline from an async
handler. The rules are described in the package docstring (`signals.sentiment`).

Construction is cheap after the first in a process: the shipped lexicon is built once, and the
compiled patterns are shared by every Classifier with the same phrases (overrides that only
change weights reuse them). A Classifier keeps no state between calls.
"""

from __future__ import annotations

import re

from signals.sentiment.lexicon import FOLD, build, shipped
from signals.sentiment.pattern import Patterns
from signals.sentiment.tally import Scan, has_caps_word, tally
from signals.sentiment.verdict import Classification, decide, is_question
from signals.settings import SentimentSettings

_span = re.Match.span


def _closers(text: str) -> list[tuple[int, int]]:
    """The spans of "?" and of runs of two or more "!" and "?", each from the character before
    (see `Classifier._spans`). str.find jumps from mark to mark; a regular expression would
    test every character of the text against a class."""
    spans: list[tuple[int, int]] = []
    end = len(text)
    position = 0
    while True:
        question, bang = text.find("?", position), text.find("!", position)
        if question < 0 and bang < 0:
            return spans
        start = bang if question < 0 or 0 <= bang < question else question
        stop = start + 1
        while stop < end and text[stop] in "!?":
            stop += 1
        if stop - start > 1 or text[start] == "?":
            spans.append((start - 1, stop))
        position = stop


class Classifier:
    """Labels a message stressed, uncertain, positive or neutral, and says why."""

    __slots__ = ("_entries", "_rules", "_symbol_starts", "_symbols", "_words")

    def __init__(self, settings: SentimentSettings | None = None) -> None:
        overridden = settings is not None and (settings.cues or settings.remove)
        lexicon = build(settings) if overridden else shipped()
        patterns = Patterns.build(lexicon.entries)
        self._entries = lexicon.entries
        self._rules = lexicon.rules
        self._words = patterns.words.finditer
        self._symbols = patterns.symbols.match
        self._symbol_starts = patterns.symbol_starts.finditer

    def classify(self, text: str | None) -> Classification:
        if not text:
            return Classification("neutral", [])
        if "  " in text or "\n" in text or "\t" in text or "\r" in text:
            text = " ".join(text.split())  # phrases are matched with single spaces
        lowered = text.lower()
        if not lowered.isascii():
            for curly, straight in FOLD:
                if curly in lowered:
                    lowered = lowered.replace(curly, straight)
        padded = " " + lowered  # a delimiter before the first word too
        spans = self._spans(padded)
        if not spans:
            cues = ["neutral:information question"] if is_question(padded) else []
            return Classification("neutral", cues)
        # Capitals are emphasis only where positions line up with the original text.
        caps = len(lowered) == len(text) and lowered != text and has_caps_word(text)
        scan = Scan(padded, " " + text if caps else "", self._entries, self._rules)
        hits, weights = tally(scan, spans)
        return decide(hits, weights, padded, self._rules.threshold)

    def _spans(self, padded: str) -> list[tuple[int, int]]:
        """Where lexicon phrases, question marks and "!!" runs are, in text order.

        Each span starts one character early, at the delimiter before the phrase (the word
        pattern matches it): the phrase itself is padded[start + 1:end].
        """
        spans = list(map(_span, self._words(padded)))
        extra = _closers(padded) if "?" in padded or "!" in padded else []
        # Most messages end in their only "?" or "!!": nothing to interleave then.
        ordered = not spans or not extra or spans[-1] < extra[0]
        if not padded.isascii():
            reached = 0
            for candidate in self._symbol_starts(padded):
                start = candidate.start()
                if start >= reached and (symbol := self._symbols(padded, start)):
                    reached = symbol.end()
                    extra.append((start - 1, reached))
                    ordered = False
        if extra:
            spans += extra
            if not ordered:
                spans.sort()
        return spans
