"""The tally of one message: every lexicon match weighed in text order, then the verdict.

`tally(scan, spans)` walks the matches of a message (see `Classifier._spans`; each names its
phrase by index into the classifier's table of entries): each lexicon phrase is weighed by the
rules for its kind, each question mark or run of "!" and "?" closes its sentence
(`sentence.close`), and `verdict.decide` gives the label. The rules are described in the
package docstring; the numbers come from the lexicon's `Rules`.

This is the classifier's hot path, run for every ingested event, so it is one loop over local
variables rather than an object with a method per rule: in CPython each call and attribute
costs about as much as the rule itself. Most matches are plain cues with nothing pending (no
negator, modifier or topic verb before them, and no capitals): those go straight into the hits.

Hits (see `verdict.Hit`) keep their weights in a parallel list, so that contrast and emphasis
can rescale them in place.

Every rule costs time linear in the text, whatever its shape: a pending negator, modifier or
topic verb is checked against each later cue only over the text it has not checked yet, and
once it fails to reach one it cannot reach a later one; a literal marker finds the cue before
it without walking back over hits it walked before; the CAPS rule is one linear expression;
the doubts are weighed after the loop, over each hit and each stretch of text once.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from signals.sentiment.lexicon import (
    CONTRAST,
    CUE,
    DOUBT,
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
from signals.sentiment.pattern import Span
from signals.sentiment.sentence import CLAUSE_BREAK, close, opens_question, reaches
from signals.sentiment.verdict import CONTRAST_MARK, Hit, excerpt

# Two capitals in a row: a word in CAPS (one capital is just "I" or the start of a sentence).
CAPS_WORD = re.compile(r"[A-Z][A-Z]")
# Every ASCII capital as "A", every other byte as a space: "AA" in a translated ASCII text is a
# word in CAPS. A search for CAPS_WORD tests each character against a class, which costs more.
_CAPITALS = bytes(0x41 if 0x41 <= byte <= 0x5A else 0x20 for byte in range(256))
# The same with "'" as "A" too: each word of a shout is then a run of two or more "A" after a
# space, so three " AA" are needed before _SHOUTING is worth running.
_RUNS = bytes(0x41 if 0x41 <= byte <= 0x5A or byte == 0x27 else 0x20 for byte in range(256))


def has_caps_word(text: str) -> bool:
    """Whether the text has two ASCII capitals in a row (CAPS_WORD), found the cheap way."""
    if text.isascii():
        return b"AA" in text.encode().translate(_CAPITALS)
    return CAPS_WORD.search(text) is not None


# Three or more words in a row written in capitals ("WHY IS THIS STILL BROKEN"). A word in CAPS
# is [A-Z][A-Z']*[A-Z] after a non-word character and before one, and the words are apart by
# whitespace and ",.!?" only. Written so that nothing is matched twice: the engine tries only
# the start of each run of capitals and apostrophes, takes each run and each gap whole
# (possessive), and looks for where the last word may end with a lazy step that only ever
# moves forward. The first word may start inside its run after an apostrophe ("'EM"), and the
# last may end inside its run before one ("DON'T" or just "DON"): linear in the text, where a
# plain [A-Z']*[A-Z] backtracks quadratically on "A'A'A'...".
_GAP = r"[\s,.!?]++"
_SHOUTING = re.compile(
    r"[A-Z'](?<![A-Z'][A-Z'])"  # the start of a run
    r"(?:(?<=[A-Z])(?<!\w[A-Z])(?=[A-Z'])|(?<=')(?=[A-Z][A-Z'])|(?=[A-Z']*?'[A-Z][A-Z']))"
    r"[A-Z']*+(?<=[A-Z])"  # the rest of the first run, ending in a capital
    + _GAP
    + r"[A-Z][A-Z']++(?<=[A-Z])"  # the second word: a whole run of two or more
    + _GAP
    + r"[A-Z][A-Z']*?[A-Z](?!\w)"  # the third: from its run's start to a capital ending a word
)
_CONTRACTIONS = ("n't", "nt")
_LOUDABLE = frozenset([CUE, DOUBT, MODIFIER, NEGATOR, SHOUT])  # the kinds that capitals change
_INERT_WHEN_QUIET = frozenset([SHOUT, IGNORE])  # with nothing pending and no capitals
_WEIGHED = frozenset([STRESSED, POSITIVE])  # what a doubt weighs (see _weigh_doubts)


class Scan(NamedTuple):
    """One message as the tally reads it, and the lexicon it is read with."""

    padded: str  # the folded, lower-cased text after a leading space
    original: str  # " " + the text when it has capitals at the same positions, else ""
    table: list[Entry | None]  # a span's entry by its phrase index; None (index -1) for "?"
    rules: Rules


def tally(scan: Scan, spans: list[Span]) -> tuple[list[Hit], list[float]]:  # noqa: PLR0912, PLR0915  # one pass over the hits
    """Weigh every match; see the module docstring. The branches stay in one frame on purpose."""
    padded, original, table, rules = scan
    hits: list[Hit] = []
    weights: list[float] = []
    caps = bool(original)
    # What is pending: a negator, a modifier, a topic verb (end < 0: none), and where the clause
    # after the last contrast word starts in the hits.
    negator_start = negator_end = modifier_start = modifier_end = topic_start = topic_end = -1
    topic_until = -1  # where the topic verb itself ends
    topic_named = False  # the topic is a name, which reaches only the next few words
    topic_doubt = False  # the topic is what a doubt weighs
    negator_loud = modifier_loud = False
    modifier = 1.0
    clause_start = 0
    # With n words allowed between a modifier or negator and its cue, n + 1 spaces are.
    modifier_window, negation_window = rules.modifier_window + 1, rules.negation_window + 1
    quiet = True  # nothing pending: a plain cue that is not in capitals goes straight in
    sentence = 0  # where the text after the last "?" or run of "!" and "?" starts
    literal: _LastCue | None = None
    doubts: list[int] | None = None  # the hits of doubts, weighed after the loop
    for index, before, end in spans:
        start = before + 1  # spans start at the delimiter before the phrase
        entry = table[index]
        if entry is None:  # not a phrase, so a "?" or a run of "!" and "?"
            close(padded, rules, hits, weights, start, end, sentence)
            sentence = end
            continue
        kind, label, weight, negated_label, negated_weight = entry
        # Capitals count where the phrase itself has two in a row; the slices are equal when it
        # has none at all, which spares the search.
        loud = (
            caps
            and kind in _LOUDABLE
            and padded[start:end] != original[start:end]
            and CAPS_WORD.search(original, start, end) is not None
        )
        if quiet and not loud:
            if kind == CUE:
                if label != NEUTRAL:  # else it counts only when negated, and nothing negates it
                    hits.append((start, end, label, start, ""))
                    weights.append(weight)
                continue
            if kind in _INERT_WHEN_QUIET:
                continue  # a shout word in lower case; a "not only" with no negator to stop
            if kind == DOUBT:
                doubts = doubts or []
                doubts.append(len(hits))
                hits.append((start, end, label, start, ""))
                weights.append(weight)
                continue
        if kind in (CUE, DOUBT):
            if topic_end >= 0:
                if CLAUSE_BREAK.search(padded, topic_end, start) is not None or (
                    topic_named and not reaches(padded, topic_until, start, modifier_window)
                ):
                    topic_end = -1
                else:  # clean so far: the next cue looks on from here (a break is 3 at most)
                    topic_end = max(topic_end, start - 2)
            # "Explain what a panic attack is": the feeling is the topic, not the writer's; not
            # knowing what a word means is still the writer's own doubt, and so is an emoji
            # after a doubt (its `negated_label` is its own: see lexicon.cue_entry).
            if (
                topic_end >= 0
                and label != UNCERTAIN
                and not (topic_doubt and label == negated_label)
            ):
                topic = excerpt(padded, topic_start, end, (topic_until, start))
                hits.append((start, end, NEUTRAL, start, "neutral:" + topic))
                weights.append(0.0)
                continue  # nothing pending changed
            cue_start = start
            factor = 1.0
            if modifier_end >= 0 and reaches(padded, modifier_end, start, modifier_window):
                factor = modifier
                cue_start = modifier_start
                loud = loud or modifier_loud
            modifier_end = -1
            negated = negator_end >= 0 and reaches(padded, negator_end, start, negation_window)
            # A negator that does not reach this cue reaches none after it either.
            negator_end = -1
            if negated and negated_label == label and negated_weight == weight:
                negated = False  # an emoji: negation leaves it as it is ("can't get in 😰")
            if negated:
                label, weight = negated_label, negated_weight
                cue_start = min(cue_start, negator_start)
                loud = loud or negator_loud
            if label != NEUTRAL:
                weight *= factor
                if loud:
                    weight *= rules.emphasis_factor
                    hits.append((start, end, label, start, "emphasis:CAPS"))
                    weights.append(0.0)
                if kind == DOUBT and label == UNCERTAIN:
                    doubts = doubts or []
                    doubts.append(len(hits))
                hits.append((start, end, label, cue_start, ""))
                weights.append(weight)
            elif negated:  # "not confused": cancelled, and said so
                note = "negated:" + excerpt(padded, cue_start, end)
                hits.append((start, end, NEUTRAL, start, note))
                weights.append(0.0)
            # else a phrase that means something only when negated, and nothing negates it
        elif kind == MODIFIER:
            if modifier_end >= 0 and start - modifier_end == 1:
                modifier *= weight  # "so very", "really really"
                modifier_loud = modifier_loud or loud
            else:
                modifier, modifier_start, modifier_loud = weight, start, loud
            modifier_end = end
        elif kind == SHOUT:
            if loud:
                hits.append((start, end, STRESSED, start, "emphasis:CAPS"))
                weights.append(weight)
        elif kind == CONTRAST:
            if _give_way(hits, weights, clause_start, rules.contrast_factor, weight > 0):
                hits.append((start, end, CONTRAST_MARK, start, "contrast:" + padded[start:end]))
                weights.append(0.0)
            clause_start = len(hits)
            negator_end = modifier_end = -1
        elif kind == NEGATOR:
            if padded.endswith(_CONTRACTIONS, start, end) and opens_question(padded, start, end):
                negator_end = -1  # "doesn't that mean ...?" asks; it does not negate
            else:
                negator_start, negator_end, negator_loud = start, end, loud
                if loud:  # a shouted "NOT" or "NEVER" is anger whatever follows
                    hits.append((start, end, STRESSED, start, "emphasis:CAPS"))
                    weights.append(rules.shout_weight)
        elif kind == SHIELD:
            hits.append((start, end, NEUTRAL, start, "neutral:" + padded[start:end]))
            weights.append(0.0)
            negator_end = modifier_end = -1
        elif kind == LITERAL:
            literal = literal or _LastCue()
            literal.make_literal(hits, weights, padded, start, end)
        elif kind == IGNORE:
            negator_end = -1
        elif kind == TOPIC:
            topic_start, topic_end, topic_until = start, end, end
            # A name reaches only the next few words ("the dog's name is Happy"); a deliberation
            # is a doubt of its own, about the clause it opens ("not sure whether to escalate").
            topic_named = weight == 0.0
            topic_doubt = label == UNCERTAIN  # an emoji after a doubt is still felt
            if topic_doubt:
                hits.append((start, end, UNCERTAIN, start, ""))
                weights.append(weight)
        quiet = negator_end < 0 and modifier_end < 0 and topic_end < 0
    if (
        caps
        and original.encode("utf-8", "surrogatepass").translate(_RUNS).count(b" AA") >= 3
        and (shout := _SHOUTING.search(original))
    ):
        start = shout.start()  # `original` has the same leading space as `padded`
        hits.append((start, start, STRESSED, start, "emphasis:CAPS"))
        weights.append(rules.shouting_weight)
    if doubts:
        _weigh_doubts(padded, hits, weights, doubts, 2 * rules.threshold)
    return hits, weights


def _weigh_doubts(
    padded: str, hits: list[Hit], weights: list[float], doubts: list[int], felt: float
) -> None:
    """A doubt about what happened ("not sure what I did wrong") weighs the hints after it in
    its clause: each plain stressed or positive cue there under `felt` becomes its topic. One
    in CAPS, an emoji, or a cue as strong as `felt` is felt all the same. Each hit and each
    stretch of text between them is looked at once, whatever the number of doubts."""
    frontier = searched = 0
    for doubt in doubts:
        doubt_start, since = hits[doubt][0], hits[doubt][1]
        searched = max(searched, since)
        for index in range(max(doubt + 1, frontier), len(hits)):
            frontier = index + 1
            start, end, label, _, note = hits[index]
            if start > searched:
                if CLAUSE_BREAK.search(padded, searched, start) is not None:
                    searched = start
                    break
                searched = start
            if (
                note
                or label not in _WEIGHED
                or not 0 < weights[index] < felt
                or hits[index - 1][::4] == (start, "emphasis:CAPS")  # the cue is in CAPS
                or not any(map(str.isalpha, padded[start:end]))
            ):
                continue
            topic = excerpt(padded, doubt_start, end, (since, start))
            hits[index] = (start, end, NEUTRAL, start, "neutral:" + topic)
            weights[index] = 0.0


def _give_way(
    hits: list[Hit], weights: list[float], clause_start: int, factor: float, turnaround: bool
) -> bool:
    """Discount the clause before a contrast word; whether anything gave way.

    A hedge before "but" frames what follows ("maybe I'm wrong, but ..."), so only feelings
    before it give way; a turnaround ("but now") discounts hedges too. Each clause gives way
    once, to the one after it: linear in the hits, whatever the text.
    """
    shifted = False
    for index in range(clause_start, len(hits)):
        if weights[index] and (turnaround or hits[index][2] != UNCERTAIN):
            weights[index] *= factor
            shifted = True
    return shifted


class _LastCue:
    """Finds the last plain cue (no note, not neutral) before a literal marker in constant time
    on average: plain cues go on a stack once, and a cue that stops being plain (it only ever
    goes that way) comes off it once. A cue a marker cannot reach, a later marker cannot reach
    either, nor any cue before it: reaching only gets harder further on."""

    __slots__ = ("beyond", "plain", "seen")

    def __init__(self) -> None:
        self.seen = 0  # the hits below this are on the stack if they were plain
        self.plain: list[int] = []
        self.beyond = -1  # cues ending at or before this are out of every later marker's reach

    def make_literal(
        self, hits: list[Hit], weights: list[float], padded: str, start: int, end: int
    ) -> None:
        """ "failed as expected": the cue just before a literal marker carries no affect."""
        plain = self.plain
        for index in range(self.seen, len(hits)):
            if not hits[index][4] and hits[index][2] != NEUTRAL:
                plain.append(index)
        self.seen = len(hits)
        while plain and (hits[plain[-1]][4] or hits[plain[-1]][2] == NEUTRAL):
            plain.pop()
        if not plain:
            return
        cue_start, cue_end = hits[plain[-1]][0], hits[plain[-1]][1]
        if cue_end <= self.beyond:
            return
        if reaches(padded, cue_end, start, 3):
            note = "neutral:" + excerpt(padded, cue_start, end)
            hits[plain[-1]] = (cue_start, cue_end, NEUTRAL, cue_start, note)
            weights[plain.pop()] = 0.0
        else:
            self.beyond = cue_end
