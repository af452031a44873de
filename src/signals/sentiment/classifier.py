"""The classifier: one pass of the lexicon's automaton over the text, then a weighted vote.

`Classifier(settings)` builds the lexicon (shipped file plus overrides) and compiles its
automata; `classify(text)` is pure CPU with no I/O, cheap enough to call inline from an async
handler, and linear in the length of the text. The rules are described in the package
docstring (`signals.sentiment`).

Construction is cheap after the first in a process: the shipped lexicon is built once, and the
compiled automata are shared by every Classifier with the same phrases (overrides that only
change weights reuse them). A Classifier keeps no state between calls.
"""

from __future__ import annotations

import functools

from signals.sentiment.lexicon import FOLD, Entry, Lexicon, build, shipped
from signals.sentiment.pattern import MAX_SPANS, POSITION, Patterns, Span
from signals.sentiment.tally import Scan, has_caps_word, tally
from signals.sentiment.verdict import Classification, decide, is_question
from signals.settings import SentimentSettings

_CLOSER = -1  # the phrase index of a "?" or a run of "!" and "?": no entry (table[-1] is None)


def _closers(text: str) -> list[Span]:
    """The spans of "?" and of runs of two or more "!" and "?", each from the character before
    (see `Classifier._spans`), MAX_SPANS at most. str.find jumps from mark to mark, and each
    mark is looked for again only once passed; a regular expression would try every position."""
    spans: list[Span] = []
    size = len(text)
    question, bang = text.find("?"), text.find("!")
    while (question >= 0 or bang >= 0) and len(spans) < MAX_SPANS:
        start = bang if question < 0 or 0 <= bang < question else question
        stop = start + 1
        while stop < size and text[stop] in "!?":
            stop += 1
        if stop - start > 1 or text[start] == "?":
            spans.append((_CLOSER, start - 1, stop))
        if 0 <= question < stop:
            question = text.find("?", stop)
        if 0 <= bang < stop:
            bang = text.find("!", stop)
    return spans


def _tables(lexicon: Lexicon) -> tuple[Patterns, list[Entry | None]]:
    """The automata, and each phrase's entry by the index they report (None last, _CLOSER)."""
    patterns = Patterns.build(lexicon.entries)
    return patterns, [*(lexicon.entries[phrase] for phrase in patterns.phrases), None]


@functools.cache
def _shipped_tables() -> tuple[Patterns, list[Entry | None]]:
    return _tables(shipped())  # read only, like the shipped lexicon


class Classifier:
    """Labels a message stressed, uncertain, positive or neutral, and says why."""

    __slots__ = ("_irony", "_patterns", "_rules", "_table")

    def __init__(self, settings: SentimentSettings | None = None) -> None:
        overridden = settings is not None and (settings.cues or settings.remove)
        lexicon = build(settings) if overridden else shipped()
        self._patterns, self._table = _tables(lexicon) if overridden else _shipped_tables()
        self._rules = lexicon.rules
        self._irony = lexicon.irony

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
        scan = Scan(padded, " " + text if caps else "", self._table, self._rules)
        hits, weights = tally(scan, spans)
        return decide(hits, weights, padded, self._rules.threshold, self._irony)

    def _spans(self, padded: str) -> list[Span]:
        """Where lexicon phrases, question marks and "!!" runs are, in text order.

        Each span is (phrase index, start - 1, end): it starts one character early, at the
        delimiter before the phrase, so the phrase itself is padded[start + 1:end].
        """
        spans = self._patterns.spans(padded)
        if "?" in padded or "!" in padded:
            closers = _closers(padded)
            # Most messages end in their only "?" or "!!": nothing to interleave then.
            if spans and closers and spans[-1][1] > closers[0][1]:
                spans += closers
                spans.sort(key=POSITION)
            else:
                spans += closers
            del spans[MAX_SPANS:]
        return spans
