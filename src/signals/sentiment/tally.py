"""The tally of one message: the cues found so far, their weights, and what is still pending.

`Tally.run(spans)` walks the lexicon matches of a message in text order (see
`Classifier._spans`): each lexicon phrase goes to `add`, each question mark or run of "!" and
"?" to `close_sentence`; `decide` then gives the verdict (from `verdict`). The rules are
described in the package docstring; the numbers come from the lexicon's `Rules`.

Most matches are plain cues with nothing pending before them (no negator, modifier or topic
verb, and no capitals in the message): `run` puts those straight into `hits` and `weights` and
keeps every other rule off that path, which is most of the work for most messages.

Hits (see `verdict.Hit`) keep their weights in a parallel list, so that contrast and emphasis
can rescale them in place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from signals.sentiment.lexicon import (
    CONTRAST,
    CUE,
    IGNORE,
    LITERAL,
    MODIFIER,
    NEGATOR,
    NEUTRAL,
    POSITIVE,
    SHIELD,
    SHOUT,
    STRESSED,
    TOPIC,
    UNCERTAIN,
    Entry,
    Rules,
)
from signals.sentiment.verdict import CONTRAST_MARK, Classification, Hit, decide

# Two capitals in a row: a word in CAPS (one capital is just "I" or the start of a sentence).
CAPS_WORD = re.compile(r"[A-Z][A-Z]")
# Three or more words in a row written in capitals ("WHY IS THIS STILL BROKEN").
# It starts with a character class, not \b, so the engine can skip ahead to capitals.
_SHOUTING = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z']*[A-Z]\b(?:[\s,.!?]+[A-Z][A-Z']*[A-Z]\b){2,}")
# A clause ends at punctuation or a dash; negation and modifiers never reach across one.
_CLAUSE_BREAK = re.compile(r"[,;:.!?()\u2013\u2014]|\s-\s")
_SENTENCE_END = re.compile(r"[.!?]")
# The first word of a sentence, when it asks a yes/no question ("is it ...?", "does that ...?").
_YES_NO = re.compile(
    r"\s*(?:is|are|am|was|were|do|does|did|can|could|will|would|should|has|have|had|may|might)"
    r"(?!\S)"
)
_CONTRACTIONS = ("n't", "nt")
# Kinds that change nothing while nothing is pending: a shout word in lower case, and a
# "not only" with no negation before it to stop.
_INERT_WHEN_QUIET = frozenset([SHOUT, IGNORE])


class Tally:
    """What one message has shown so far; see the module docstring."""

    __slots__ = (
        "caps",
        "clause_start",
        "hits",
        "modifier",
        "modifier_end",
        "modifier_loud",
        "modifier_start",
        "negator_end",
        "negator_loud",
        "negator_start",
        "original",
        "padded",
        "rules",
        "topic_end",
        "topic_start",
        "weights",
    )
    # Set together with the matching *_end, and read only while that is >= 0.
    modifier: float
    modifier_start: int
    modifier_loud: bool
    negator_start: int
    negator_loud: bool
    topic_start: int

    def __init__(self, rules: Rules, padded: str, original: str, *, caps: bool) -> None:
        self.rules = rules
        self.padded = padded  # the folded, lower-cased text after a leading space
        self.original = original  # the text with the same positions, for capitals
        self.caps = caps
        self.hits: list[Hit] = []
        self.weights: list[float] = []
        self.negator_end = self.modifier_end = self.topic_end = -1
        self.clause_start = 0  # the first hit after the last contrast word

    def run(self, spans: Iterable[tuple[int, int]], entries: Mapping[str, Entry]) -> None:
        """Take every match in text order; `entries` tells a phrase from a "?" or "!!" run.

        Each span starts one character early, at the delimiter before the phrase: the phrase
        itself is padded[start + 1:end].
        """
        padded, hits, weights = self.padded, self.hits, self.weights
        get = entries.get
        quiet = not self.caps  # nothing pending and no capitals: plain cues go straight in
        for before, end in spans:
            start = before + 1
            phrase = padded[start:end]
            entry = get(phrase)
            if entry is None:  # not a phrase, so a "?" or a run of "!" and "?"
                self.close_sentence(start, end, phrase)
            elif quiet and entry.kind == CUE:
                if entry.label != NEUTRAL:  # else it counts only when negated, and nothing is
                    hits.append((start, end, entry.label, start, ""))
                    weights.append(entry.weight)
            elif not (quiet and entry.kind in _INERT_WHEN_QUIET):
                self.add(start, end, phrase, entry)
                quiet = (
                    not self.caps
                    and self.negator_end < 0
                    and self.modifier_end < 0
                    and self.topic_end < 0
                )

    def add(self, start: int, end: int, phrase: str, entry: Entry) -> None:
        kind = entry.kind
        if kind == CUE:
            self._cue(start, end, entry, self._loud(start, end))
        elif kind == MODIFIER:
            self._modifier(start, end, entry.weight, self._loud(start, end))
        elif kind == SHOUT:
            if self._loud(start, end):
                self._note(start, end, STRESSED, "emphasis:CAPS", entry.weight)
        elif kind == CONTRAST:
            self._contrast(start, end, phrase, turnaround=entry.weight > 0)
        elif kind == NEGATOR:
            self._negator(start, end, phrase, self._loud(start, end))
        elif kind == SHIELD:
            self._note(start, end, NEUTRAL, "neutral:" + phrase)
            self.negator_end = self.modifier_end = -1
        elif kind == LITERAL:
            self._make_literal(start, end)
        elif kind == IGNORE:
            self.negator_end = -1
        elif kind == TOPIC:
            self.topic_start, self.topic_end = start, end

    def _loud(self, start: int, end: int) -> bool:
        """Whether the phrase at start:end is written with two capitals in a row."""
        if not self.caps:
            return False
        original = self.original[start:end]
        # Equal to the folded text means no capital at all: no need to search.
        return original != self.padded[start:end] and CAPS_WORD.search(original) is not None

    def _note(self, start: int, end: int, label: int, note: str, weight: float = 0.0) -> None:
        self.hits.append((start, end, label, start, note))
        self.weights.append(weight)

    def _reaches(self, since: int, start: int, window: int) -> bool:
        """Whether a word ending at `since` reaches one starting at `start`: near, same clause."""
        padded = self.padded
        return start - since == 1 or (
            padded.count(" ", since, start) <= window
            and _CLAUSE_BREAK.search(padded, since, start) is None
        )

    def _cue(self, start: int, end: int, entry: Entry, loud: bool) -> None:
        if self.topic_end >= 0:
            if _CLAUSE_BREAK.search(self.padded, self.topic_end, start) is not None:
                self.topic_end = -1
            elif entry.label != UNCERTAIN:
                # "Explain what a panic attack is": the feeling is the topic, not the writer's;
                # not knowing what a word means is still the writer's own doubt.
                self._note(start, end, NEUTRAL, "neutral:" + self.padded[self.topic_start : end])
                return
        rules = self.rules
        cue_start = start
        factor = 1.0
        if self.modifier_end >= 0 and self._reaches(
            self.modifier_end, start, rules.modifier_window + 1
        ):
            factor = self.modifier
            cue_start = self.modifier_start
            loud = loud or self.modifier_loud
        self.modifier_end = -1
        label, weight = entry.label, entry.weight
        if self.negator_end >= 0 and self._reaches(
            self.negator_end, start, rules.negation_window + 1
        ):
            label, weight = entry.negated_label, entry.negated_weight
            cue_start = min(cue_start, self.negator_start)
            loud = loud or self.negator_loud
            self.negator_end = -1
            if label == NEUTRAL:
                self._note(start, end, NEUTRAL, "negated:" + self.padded[cue_start:end])
                return
        elif label == NEUTRAL:
            return  # a phrase that means something only when negated
        self.negator_end = -1
        weight *= factor
        if loud:
            weight *= rules.emphasis_factor
            self._note(start, end, label, "emphasis:CAPS")
        self.hits.append((start, end, label, cue_start, ""))
        self.weights.append(weight)

    def _negator(self, start: int, end: int, phrase: str, loud: bool) -> None:
        if phrase.endswith(_CONTRACTIONS) and self._asks(start, end):
            self.negator_end = -1  # "doesn't that mean ...?" asks; it does not negate
            return
        self.negator_start, self.negator_end, self.negator_loud = start, end, loud
        if loud:  # a shouted "NOT" or "NEVER" is anger whatever follows
            self._note(start, end, STRESSED, "emphasis:CAPS", self.rules.shout_weight)

    def _asks(self, start: int, end: int) -> bool:
        """Whether a negator opens a sentence that ends in "?": a question, not a negation."""
        padded = self.padded
        before = start - 1
        while before >= 0 and padded[before] == " ":
            before -= 1
        if before >= 0 and padded[before] not in ".!?":
            return False
        closing = _SENTENCE_END.search(padded, end)
        return closing is not None and closing.group() == "?"

    def _modifier(self, start: int, end: int, factor: float, loud: bool) -> None:
        if self.modifier_end >= 0 and start - self.modifier_end == 1:
            self.modifier *= factor  # "so very", "really really"
            self.modifier_loud = self.modifier_loud or loud
        else:
            self.modifier, self.modifier_start, self.modifier_loud = factor, start, loud
        self.modifier_end = end

    def _contrast(self, start: int, end: int, phrase: str, turnaround: bool) -> None:
        # A hedge before "but" frames what follows ("maybe I'm wrong, but ..."), so only
        # feelings before it give way; a turnaround ("but now") discounts hedges too.
        # Each clause gives way once, to the one after it: linear in the hits, whatever the text.
        hits, weights = self.hits, self.weights
        shifted = False
        for index in range(self.clause_start, len(hits)):
            if weights[index] and (turnaround or hits[index][2] != UNCERTAIN):
                weights[index] *= self.rules.contrast_factor
                shifted = True
        if shifted:
            self._note(start, end, CONTRAST_MARK, "contrast:" + phrase)
        self.clause_start = len(hits)
        self.negator_end = self.modifier_end = -1

    def _make_literal(self, start: int, end: int) -> None:
        """ "failed as expected": the cue just before a literal marker carries no affect."""
        for index in range(len(self.hits) - 1, -1, -1):
            cue_start, cue_end, label, _, note = self.hits[index]
            if note or label == NEUTRAL:
                continue
            if self._reaches(cue_end, start, 3):
                note = "neutral:" + self.padded[cue_start:end]
                self.hits[index] = (cue_start, cue_end, NEUTRAL, cue_start, note)
                self.weights[index] = 0.0
            return

    def close_sentence(self, start: int, end: int, run: str) -> None:
        """Weigh the sentence that a "?" or a run of "!" and "?" closes.

        A question makes its hedges weigh more and its praise less, and a quoted word in it is a
        term asked about, not sarcasm; a run ("!!", "?!", "???") amplifies every cue of its
        sentence, and "?!" or "???" is stressed on its own.
        """
        rules, padded = self.rules, self.padded
        hits, weights = self.hits, self.weights
        question = "?" in run
        emphatic = len(run) > 1
        # The sentence runs from after the last ".", "!" or "?" before the run; its hits are
        # the last ones (hits are in text order), so walking back keeps long texts linear.
        opening = 1 + max(
            padded.rfind(".", 0, start), padded.rfind("!", 0, start), padded.rfind("?", 0, start)
        )
        first = len(hits)
        while first and hits[first - 1][0] >= opening:
            first -= 1
        asks: bool | None = None  # a yes/no question; found out only if a stressed cue asks
        amplified: set[int] = set()
        for index in range(first, len(hits)):
            hit = hits[index]
            label = hit[2]
            if not weights[index] or label == NEUTRAL or label == CONTRAST_MARK:
                continue
            if question:
                if label == STRESSED:
                    if padded[hit[3]] == '"':
                        note = "neutral:" + padded[hit[3] : hit[1]]
                        hits[index] = (hit[0], hit[1], NEUTRAL, hit[3], note)
                        weights[index] = 0.0
                        continue
                    if asks is None:
                        asks = _YES_NO.match(padded, opening, start) is not None
                    if asks:
                        weights[index] *= rules.question_stressed_factor
                elif label == UNCERTAIN:
                    weights[index] *= rules.question_uncertain_factor
                elif label == POSITIVE:
                    weights[index] *= rules.question_positive_factor
            if emphatic:
                weights[index] *= rules.emphasis_factor
                amplified.add(label)
        note = "emphasis:" + run[:4]
        for label in sorted(amplified):
            self._note(start, end, label, note)
        if "!" in run and question:
            self._note(start, end, STRESSED, note, rules.interrobang_weight)
        elif run.count("?") >= 3:
            self._note(start, end, STRESSED, note, rules.question_run_weight)

    def decide(self, text: str) -> Classification:
        if self.caps and (shout := _SHOUTING.search(text)):
            start = shout.start() + 1  # positions are in the padded text
            self._note(start, start, STRESSED, "emphasis:CAPS", self.rules.shouting_weight)
        return decide(self.hits, self.weights, self.padded, self.rules.threshold)
