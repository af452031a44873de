"""The classifier: one pass of the lexicon's patterns over the text, then a weighted vote.

Pure CPU and no I/O after construction, so an async handler may call `classify` inline. The
rules are described in the package docstring (`signals.sentiment`); the numbers they use live in
the lexicon file's `[rules]` table. The loop is written for speed: hits are tuples with their
weights in a parallel list, and cue strings are only built for the label that wins.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from signals.sentiment.lexicon import (
    CONTRAST,
    CUE,
    FOLD,
    IGNORE,
    LABELS,
    LITERAL,
    MODIFIER,
    NEGATOR,
    NEUTRAL,
    POSITIVE,
    SHIELD,
    SHOUT,
    STRESSED,
    UNCERTAIN,
    build,
)
from signals.sentiment.pattern import Patterns
from signals.settings import SentimentLabel, SentimentSettings

# A clause ends at punctuation or a dash; negation and modifiers never reach across one.
_CLAUSE_BREAK = re.compile(r"[,;:.!?()\n\u2013\u2014]|\s-\s")
# A word in capitals; one capital letter is just the start of a sentence or "I".
_CAPS_WORD = re.compile(r"[A-Z]{2,}")
# Three or more words in a row written in capitals ("WHY IS THIS STILL BROKEN").
_SHOUTING = re.compile(r"\b[A-Z][A-Z']*[A-Z]\b(?:[\s,.!?]+[A-Z][A-Z']*[A-Z]\b){2,}")
_QUESTION_WORDS = frozenset(
    "what what's whats where when which who whom whose why how is are am do does did can could "
    "would will should may has have".split()
)
_SENTENCE_ENDS = ".!?\n"
_SENTENCE_END = re.compile(r"[.!?\n]")
_CONTRACTIONS = ("n't", "nt")
_CONTRAST_MARK = -1  # the label of a contrast word's hit: it explains, it does not vote

# A hit: (start, end, label, cue start, note). A note of "" means the cue is the label and the
# text from cue start to end; otherwise the note is the whole cue string.
_Hit = tuple[int, int, int, int, str]


class Classification(NamedTuple):
    label: SentimentLabel
    cues: list[str]


def _closers(text: str) -> list[tuple[int, int]]:
    """The spans of "?" and of runs of two or more "!" and "?"; str.find beats a regex here."""
    spans = []
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
            spans.append((start, stop))
        position = stop


class Classifier:
    """Labels a message stressed, uncertain, positive or neutral, and says why."""

    __slots__ = ("_entries", "_rules", "_symbols", "_words")

    def __init__(self, settings: SentimentSettings | None = None) -> None:
        lexicon = build(settings)
        patterns = Patterns.build(lexicon.entries)
        self._entries = lexicon.entries
        self._rules = lexicon.rules
        self._words = patterns.words.finditer
        self._symbols = patterns.symbols.finditer if patterns.symbols else None

    def _spans(self, padded: str) -> list[tuple[int, int]]:
        """Where lexicon phrases, question marks and "!!" runs are, in text order."""
        spans = [(match.start() + 1, match.end()) for match in self._words(padded)]
        extra = _closers(padded) if "?" in padded or "!" in padded else []
        if self._symbols is not None and not padded.isascii():
            extra += [match.span() for match in self._symbols(padded)]
        if extra:
            spans = sorted(spans + extra)
        return spans

    def classify(self, text: str | None) -> Classification:
        if not text:
            return Classification("neutral", [])
        lowered = text.lower()
        # Capitals are emphasis only where positions line up with the original text.
        caps = lowered != text and len(lowered) == len(text)
        # A leading space gives the first word a delimiter; positions below are in `padded`.
        padded = " " + (lowered if lowered.isascii() else lowered.translate(FOLD))
        original = " " + text if caps else ""
        rules = self._rules
        entries = self._entries
        negation_window = rules.negation_window + 1
        modifier_window = rules.modifier_window + 1
        clause_break = _CLAUSE_BREAK.search
        hits: list[_Hit] = []
        weights: list[float] = []
        negator_start = negator_end = modifier_start = modifier_end = -1
        negator_loud = modifier_loud = False
        modifier = 1.0
        for start, end in self._spans(padded):
            phrase = padded[start:end]
            entry = entries.get(phrase)
            if entry is None:
                if phrase[0] in "!?":
                    self._close_sentence(hits, weights, padded, start, end, phrase)
                    continue
                phrase = " ".join(phrase.split())
                entry = entries[phrase]
            kind = entry.kind
            loud = caps and _CAPS_WORD.search(original, start, end) is not None
            if kind == CUE:
                cue_start = start
                factor = 1.0
                if (
                    modifier_end >= 0
                    and padded.count(" ", modifier_end, start) <= modifier_window
                    and clause_break(padded, modifier_end, start) is None
                ):
                    factor = modifier
                    cue_start = modifier_start
                    loud = loud or modifier_loud
                modifier_end = -1
                if (
                    negator_end >= 0
                    and padded.count(" ", negator_end, start) <= negation_window
                    and clause_break(padded, negator_end, start) is None
                ):
                    label, weight = entry.negated_label, entry.negated_weight
                    cue_start = min(cue_start, negator_start)
                    loud = loud or negator_loud
                    negator_end = -1
                    if label == NEUTRAL:
                        note = "negated:" + padded[cue_start:end]
                        hits.append((start, end, NEUTRAL, cue_start, note))
                        weights.append(0.0)
                        continue
                else:
                    label, weight = entry.label, entry.weight
                    if label == NEUTRAL:
                        continue  # a phrase that means something only when negated
                    negator_end = -1
                weight *= factor
                if loud:
                    weight *= rules.emphasis_factor
                    hits.append((start, end, label, start, "emphasis:CAPS"))
                    weights.append(0.0)
                hits.append((start, end, label, cue_start, ""))
                weights.append(weight)
            elif kind == NEGATOR:
                if phrase.endswith(_CONTRACTIONS) and self._asks(padded, start, end):
                    negator_end = -1  # "doesn't that mean ...?" asks; it does not negate
                    continue
                negator_start, negator_end, negator_loud = start, end, loud
                if loud:  # a shouted "NOT" or "NEVER" is anger whatever follows
                    hits.append((start, end, STRESSED, start, "emphasis:CAPS"))
                    weights.append(rules.shout_weight)
            elif kind == MODIFIER:
                if modifier_end >= 0 and padded.count(" ", modifier_end, start) <= 1:
                    modifier *= entry.weight  # "so very", "really really"
                    modifier_loud = modifier_loud or loud
                else:
                    modifier, modifier_start, modifier_loud = entry.weight, start, loud
                modifier_end = end
            elif kind == SHIELD:
                hits.append((start, end, NEUTRAL, start, "neutral:" + phrase))
                weights.append(0.0)
                negator_end = modifier_end = -1
            elif kind == CONTRAST:
                # A hedge before "but" frames what follows ("maybe I'm wrong, but ..."), so only
                # feelings before it give way; a turnaround ("but now") discounts hedges too.
                shifted = False
                for index in range(len(hits)):
                    if weights[index] and (entry.weight or hits[index][2] != UNCERTAIN):
                        weights[index] *= rules.contrast_factor
                        shifted = True
                if shifted:
                    hits.append((start, end, _CONTRAST_MARK, start, "contrast:" + phrase))
                    weights.append(0.0)
                negator_end = modifier_end = -1
            elif kind == LITERAL:
                self._make_literal(hits, weights, padded, start, end)
            elif kind == IGNORE:
                negator_end = -1
            elif kind == SHOUT and loud:
                hits.append((start, end, STRESSED, start, "emphasis:CAPS"))
                weights.append(entry.weight)
        if caps and (shout := _SHOUTING.search(text)):
            hits.append((shout.start() + 1, shout.end() + 1, STRESSED, 0, "emphasis:CAPS"))
            weights.append(rules.shouting_weight)
        return self._decide(hits, weights, padded)

    @staticmethod
    def _asks(padded: str, start: int, end: int) -> bool:
        """Whether a negator opens a sentence that ends in "?": a question, not a negation."""
        before = padded[:start].rstrip()
        if before and before[-1] not in _SENTENCE_ENDS:
            return False
        closing = _SENTENCE_END.search(padded, end)
        return closing is not None and closing.group() == "?"

    def _close_sentence(
        self, hits: list[_Hit], weights: list[float], padded: str, start: int, end: int, run: str
    ) -> None:
        """Weigh the sentence that a "?" or a run of "!" and "?" closes.

        A question makes its hedges weigh more and its praise less; a run ("!!", "?!", "???")
        amplifies every cue of its sentence, and "?!" or "???" is stressed on its own.
        """
        rules = self._rules
        sentence = max(padded.rfind(char, 0, start) for char in _SENTENCE_ENDS) + 1
        question = "?" in run
        emphatic = len(run) > 1
        note = "emphasis:" + run[:4]
        amplified = set()
        for index, hit in enumerate(hits):
            label = hit[2]
            if hit[0] < sentence or not weights[index] or label == NEUTRAL:
                continue
            if question and label == UNCERTAIN:
                weights[index] *= rules.question_uncertain_factor
            elif question and label == POSITIVE:
                weights[index] *= rules.question_positive_factor
            if emphatic:
                weights[index] *= rules.emphasis_factor
                amplified.add(label)
        for label in sorted(amplified):
            hits.append((start, end, label, start, note))
            weights.append(0.0)
        if "!" in run and "?" in run:
            hits.append((start, end, STRESSED, start, note))
            weights.append(rules.interrobang_weight)
        elif run.count("?") >= 3:
            hits.append((start, end, STRESSED, start, note))
            weights.append(rules.question_run_weight)

    @staticmethod
    def _make_literal(
        hits: list[_Hit], weights: list[float], padded: str, start: int, end: int
    ) -> None:
        """ "failed as expected": the cue just before a literal marker carries no affect."""
        for index in range(len(hits) - 1, -1, -1):
            cue_start, cue_end, label, _, note = hits[index]
            if note or label == NEUTRAL:
                continue
            if (
                padded.count(" ", cue_end, start) <= 2
                and _CLAUSE_BREAK.search(padded, cue_end, start) is None
            ):
                note = "neutral:" + padded[cue_start:end]
                hits[index] = (cue_start, cue_end, NEUTRAL, cue_start, note)
                weights[index] = 0.0
            return

    def _decide(self, hits: list[_Hit], weights: list[float], padded: str) -> Classification:
        scores = [0.0, 0.0, 0.0, 0.0]
        for index, hit in enumerate(hits):
            if hit[2] >= 0:
                scores[hit[2]] += weights[index]
        threshold = self._rules.threshold
        for winner in (STRESSED, UNCERTAIN, POSITIVE):
            if scores[winner] >= threshold:
                break
        else:
            winner = NEUTRAL
        name = LABELS[winner]
        cues: list[str] = []
        contrast = ""
        for start, end, label, cue_start, note in hits:
            if label == _CONTRAST_MARK:
                contrast = note
            elif label == winner:
                if contrast and winner != NEUTRAL:
                    cues.append(contrast)  # the winner's cues come after a contrast word
                    contrast = ""
                cues.append(note or f"{name}:{padded[cue_start:end]}")
        if winner == NEUTRAL:
            words = padded.split(None, 1)
            if padded.rstrip().endswith("?") or (words and words[0] in _QUESTION_WORDS):
                cues.append("neutral:information question")
        return Classification(name, list(dict.fromkeys(cues)))
