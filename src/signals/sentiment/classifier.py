"""The classifier: one pass of the lexicon's patterns over the text, then a weighted vote.

`Classifier(settings)` builds the lexicon (shipped file plus overrides) and compiles its
patterns once; `classify(text)` is pure CPU with no I/O, cheap enough to call inline from an
async handler. The rules are described in the package docstring (`signals.sentiment`).

The loop below is the hot path. A plain cue with nothing pending goes straight into the tally's
lists; everything else (negators, modifiers, contrast, capitals) goes through `Tally.add`.
"""

from __future__ import annotations

import re

from signals.sentiment.lexicon import CUE, FOLD, NEUTRAL, build
from signals.sentiment.pattern import Patterns
from signals.sentiment.tally import CAPS_WORD, Tally
from signals.sentiment.verdict import Classification, Hit, decide, is_question
from signals.settings import SentimentSettings

_span = re.Match.span


def _closers(text: str) -> list[tuple[int, int]]:
    """The spans of "?" and of runs of two or more "!" and "?", each from the character before
    (see `Classifier._spans`); str.find beats a regular expression here."""
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


def _fold(text: str) -> str:
    """Lower case and straight quotes, after a space: a delimiter before the first word too."""
    lowered = text.lower()
    if not lowered.isascii():
        for curly, straight in FOLD:
            if curly in lowered:
                lowered = lowered.replace(curly, straight)
    return " " + lowered


class Classifier:
    """Labels a message stressed, uncertain, positive or neutral, and says why."""

    __slots__ = ("_entries", "_plain", "_rules", "_symbol_starts", "_symbols", "_words")

    def __init__(self, settings: SentimentSettings | None = None) -> None:
        lexicon = build(settings)
        patterns = Patterns.build(lexicon.entries)
        self._entries = lexicon.entries
        # Cues that count as they stand, as (label, weight): the common case, kept cheap.
        self._plain = {
            phrase: (entry.label, entry.weight)
            for phrase, entry in lexicon.entries.items()
            if entry.kind == CUE and entry.label != NEUTRAL
        }
        self._rules = lexicon.rules
        self._words = patterns.words.finditer
        self._symbols = patterns.symbols.match
        self._symbol_starts = patterns.symbol_starts.finditer

    def classify(self, text: str | None) -> Classification:
        if not text:
            return Classification("neutral", [])
        if "  " in text or "\n" in text or "\t" in text or "\r" in text:
            text = " ".join(text.split())  # phrases are matched with single spaces
        padded = _fold(text)
        # Capitals are emphasis only where positions line up with the original text.
        caps = (
            len(padded) == len(text) + 1
            and padded[1:] != text
            and CAPS_WORD.search(text) is not None
        )
        spans = self._spans(padded)
        if not spans:
            cues = ["neutral:information question"] if is_question(padded) else []
            return Classification("neutral", cues)
        hits: list[Hit] = []
        weights: list[float] = []
        # The tally is made when first needed: many messages hold nothing but plain cues.
        tally = None
        if caps:
            tally = Tally(self._rules, padded, " " + text, caps=True, hits=hits, weights=weights)
        lookup = self._entries.get
        plain = self._plain.get
        for before, end in spans:
            start = before + 1
            phrase = padded[start:end]
            cue = plain(phrase)
            if cue is not None and (tally is None or tally.quiet):
                hits.append((start, end, cue[0], start, ""))
                weights.append(cue[1])
                continue
            entry = lookup(phrase)
            if entry is not None and entry.kind == CUE and (tally is None or tally.quiet):
                continue  # a phrase that counts only when negated, and nothing negates it
            if tally is None:
                tally = Tally(
                    self._rules, padded, " " + text, caps=caps, hits=hits, weights=weights
                )
            if entry is None:  # not a phrase, so a "?" or a run of "!" and "?"
                tally.close_sentence(start, end, phrase)
            else:
                tally.add(start, end, phrase, entry)
        if tally is None:
            return decide(hits, weights, padded, self._rules.threshold)
        return tally.decide(text)

    def _spans(self, padded: str) -> list[tuple[int, int]]:
        """Where lexicon phrases, question marks and "!!" runs are, in text order.

        Each span starts one character early, at the delimiter before the phrase (the word
        pattern matches it): the phrase itself is padded[start + 1:end].
        """
        spans = list(map(_span, self._words(padded)))
        extra = _closers(padded) if "?" in padded or "!" in padded else []
        if not padded.isascii():
            reached = 0
            for candidate in self._symbol_starts(padded):
                start = candidate.start()
                if start >= reached and (symbol := self._symbols(padded, start)):
                    reached = symbol.end()
                    extra.append((start - 1, reached))
        if extra:
            spans += extra
            spans.sort()
        return spans
