"""The classifier: one pass of the lexicon's pattern over the text, then a weighted vote.

Pure CPU and no I/O after construction, so an async handler may call `classify` inline. The
rules are described in the package docstring (`signals.sentiment`); the numbers they use live in
the lexicon file's `[rules]` table.
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
from signals.sentiment.pattern import compile_phrases
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
_CONTRAST_MARK = -1


class _Hit:
    """One thing the pass found; a weight of 0 marks an explanation rather than a vote."""

    __slots__ = ("cue", "end", "label", "start", "weight")

    def __init__(self, start: int, end: int, label: int, weight: float, cue: str) -> None:
        self.start = start
        self.end = end
        self.label = label
        self.weight = weight
        self.cue = cue


class Classification(NamedTuple):
    label: SentimentLabel
    cues: list[str]


class Classifier:
    """Labels a message stressed, uncertain, positive or neutral, and says why."""

    __slots__ = ("_entries", "_finditer", "_rules")

    def __init__(self, settings: SentimentSettings | None = None) -> None:
        lexicon = build(settings)
        self._entries = lexicon.entries
        self._rules = lexicon.rules
        self._finditer = compile_phrases(lexicon.entries).finditer

    def classify(self, text: str | None) -> Classification:
        if not text:
            return Classification("neutral", [])
        lowered = text.lower()
        # Capitals are emphasis only where positions line up with the original text.
        caps = lowered != text and len(lowered) == len(text)
        if not lowered.isascii():
            lowered = lowered.translate(FOLD)
        rules = self._rules
        entries = self._entries
        negation_window = rules.negation_window + 1
        modifier_window = rules.modifier_window + 1
        clause_break = _CLAUSE_BREAK.search
        found: list[_Hit] = []
        scored: list[_Hit] = []
        negator_start = negator_end = -1
        negator_loud = False
        modifier = 1.0
        modifier_start = modifier_end = -1
        modifier_loud = False
        for match in self._finditer(lowered):
            start, end = match.span()
            phrase = match.group()
            entry = entries.get(phrase)
            if entry is None:
                if phrase[0] in "!?":
                    self._close_sentence(found, lowered, start, end, phrase)
                    continue
                phrase = " ".join(phrase.split())
                entry = entries[phrase]
            kind, label, weight = entry[:3]
            loud = caps and _CAPS_WORD.search(text, start, end) is not None
            if kind == CUE:
                cue_start = start
                factor = 1.0
                if (
                    modifier_end >= 0
                    and lowered.count(" ", modifier_end, start) <= modifier_window
                    and clause_break(lowered, modifier_end, start) is None
                ):
                    factor = modifier
                    cue_start = modifier_start
                    loud = loud or modifier_loud
                modifier_end = -1
                if (
                    negator_end >= 0
                    and lowered.count(" ", negator_end, start) <= negation_window
                    and clause_break(lowered, negator_end, start) is None
                ):
                    label, weight = entry.negated_label, entry.negated_weight
                    cue_start = min(cue_start, negator_start)
                    loud = loud or negator_loud
                    negator_end = -1
                    if label == NEUTRAL:
                        cue = "negated:" + lowered[cue_start:end]
                        found.append(_Hit(start, end, NEUTRAL, 0.0, cue))
                        continue
                elif label == NEUTRAL:
                    continue  # a phrase that means something only when negated
                negator_end = -1
                weight *= factor
                if loud:
                    weight *= rules.emphasis_factor
                    found.append(_Hit(start, end, label, 0.0, "emphasis:CAPS"))
                hit = _Hit(start, end, label, weight, f"{LABELS[label]}:{lowered[cue_start:end]}")
                found.append(hit)
                scored.append(hit)
            elif kind == NEGATOR:
                if phrase.endswith(_CONTRACTIONS) and self._asks(lowered, start, end):
                    negator_end = -1  # "doesn't that mean ...?" asks; it does not negate
                    continue
                negator_start, negator_end, negator_loud = start, end, loud
                if loud:  # a shouted "NOT" or "NEVER" is anger whatever follows
                    found.append(_Hit(start, end, STRESSED, rules.shout_weight, "emphasis:CAPS"))
            elif kind == IGNORE:
                negator_end = -1
            elif kind == MODIFIER:
                if modifier_end >= 0 and lowered.count(" ", modifier_end, start) <= 1:
                    modifier *= weight  # "so very", "really really"
                    modifier_loud = modifier_loud or loud
                else:
                    modifier, modifier_start, modifier_loud = weight, start, loud
                modifier_end = end
            elif kind == SHIELD:
                found.append(_Hit(start, end, NEUTRAL, 0.0, "neutral:" + phrase))
                negator_end = modifier_end = -1
            elif kind == CONTRAST:
                # A hedge before "but" frames what follows ("maybe I'm wrong, but ..."), so only
                # feelings before it give way; a turnaround ("but now") discounts hedges too.
                shifted = False
                for hit in scored:
                    if hit.weight and (weight or hit.label != UNCERTAIN):
                        hit.weight *= rules.contrast_factor
                        shifted = True
                if shifted:
                    found.append(_Hit(start, end, _CONTRAST_MARK, 0.0, "contrast:" + phrase))
                negator_end = modifier_end = -1
            elif kind == LITERAL:
                self._make_literal(scored, lowered, start, end)
            elif kind == SHOUT and loud:
                found.append(_Hit(start, end, STRESSED, weight, "emphasis:CAPS"))
        if caps and (shout := _SHOUTING.search(text)):
            found.append(
                _Hit(shout.start(), shout.end(), STRESSED, rules.shouting_weight, "emphasis:CAPS")
            )
        return self._decide(found, lowered)

    @staticmethod
    def _asks(lowered: str, start: int, end: int) -> bool:
        """Whether a negator opens a sentence that ends in "?": a question, not a negation."""
        before = lowered[:start].rstrip()
        if before and before[-1] not in _SENTENCE_ENDS:
            return False
        closing = _SENTENCE_END.search(lowered, end)
        return closing is not None and closing.group() == "?"

    def _close_sentence(
        self, found: list[_Hit], lowered: str, start: int, end: int, run: str
    ) -> None:
        """Weigh the sentence that a "?" or a run of "!" and "?" closes.

        A question makes its hedges weigh more and its praise less; a run ("!!", "?!", "???")
        amplifies every cue of its sentence, and "?!" or "???" is stressed on its own.
        """
        rules = self._rules
        sentence = max(lowered.rfind(char, 0, start) for char in _SENTENCE_ENDS) + 1
        question = "?" in run
        emphatic = len(run) > 1
        marker = "emphasis:" + run[:4]
        amplified = set()
        for hit in found:
            if hit.start < sentence or not hit.weight or hit.label == NEUTRAL:
                continue
            if question and hit.label == UNCERTAIN:
                hit.weight *= rules.question_uncertain_factor
            elif question and hit.label == POSITIVE:
                hit.weight *= rules.question_positive_factor
            if emphatic:
                hit.weight *= rules.emphasis_factor
                amplified.add(hit.label)
        for label in sorted(amplified):
            found.append(_Hit(start, end, label, 0.0, marker))
        if "!" in run and "?" in run:
            found.append(_Hit(start, end, STRESSED, rules.interrobang_weight, marker))
        elif run.count("?") >= 3:
            found.append(_Hit(start, end, STRESSED, rules.question_run_weight, marker))

    @staticmethod
    def _make_literal(scored: list[_Hit], lowered: str, start: int, end: int) -> None:
        """ "failed as expected": the cue just before a literal marker carries no affect."""
        if not scored:
            return
        hit = scored[-1]
        if (
            lowered.count(" ", hit.end, start) <= 2
            and _CLAUSE_BREAK.search(lowered, hit.end, start) is None
        ):
            hit.label, hit.weight = NEUTRAL, 0.0
            hit.cue = "neutral:" + lowered[hit.start : end]

    def _decide(self, found: list[_Hit], lowered: str) -> Classification:
        scores = [0.0, 0.0, 0.0, 0.0]
        for hit in found:
            if hit.label >= 0:
                scores[hit.label] += hit.weight
        threshold = self._rules.threshold
        for winner in (STRESSED, UNCERTAIN, POSITIVE):
            if scores[winner] >= threshold:
                break
        else:
            winner = NEUTRAL
        cues = [hit.cue for hit in found if hit.label == winner]
        if winner == NEUTRAL:
            words = lowered.split(None, 1)
            if lowered.rstrip().endswith("?") or (words and words[0] in _QUESTION_WORDS):
                cues.append("neutral:information question")
        else:
            cues = self._with_contrast(found, winner) or cues
        return Classification(LABELS[winner], list(dict.fromkeys(cues)))

    @staticmethod
    def _with_contrast(found: list[_Hit], winner: int) -> list[str]:
        """The winner's cues, with a contrast word kept where cues of the winner follow it."""
        cues: list[str] = []
        pending = ""
        for hit in found:
            if hit.label == _CONTRAST_MARK:
                pending = hit.cue
            elif hit.label == winner:
                if pending:
                    cues.append(pending)
                    pending = ""
                cues.append(hit.cue)
        return cues
