"""Sentences and clauses of the padded text: the rules that look beyond a single match.

- `close(padded, rules, hits, weights, start=, end=, run=)` weighs the sentence that a "?" or
  a run of "!" and "?" closes: a question makes its hedges weigh more and its praise less, and a
  quoted word in it is a term asked about, not sarcasm; a run ("!!", "?!", "???") amplifies
  every cue of its sentence, and "?!" or "???" is stressed on its own.
- `reaches(padded, since, start, window)`: whether a word ending at `since` (a negator, a
  modifier) reaches one starting at `start`: adjacent, or within `window` spaces in one clause.
- `opens_question(padded, start, end)`: whether a negator opens a sentence that ends in "?"
  ("doesn't that mean ...?" asks; it does not negate).
"""

from __future__ import annotations

import re

from signals.sentiment.lexicon import NEUTRAL, POSITIVE, STRESSED, UNCERTAIN, Rules
from signals.sentiment.verdict import CONTRAST_MARK, Hit

# A clause ends at punctuation or a dash; negation and modifiers never reach across one.
CLAUSE_BREAK = re.compile(r"[,;:.!?()\u2013\u2014]|\s-\s")
_SENTENCE_END = re.compile(r"[.!?]")
_UNSCORED = frozenset([NEUTRAL, CONTRAST_MARK])  # hits that explain but never vote
# The first word of a sentence that asks a yes/no question ("is it ...?", "does that ...?"):
# the same test as splitting the sentence on whitespace and looking its first word up.
_YES_NO = re.compile(
    r"\s*(?:is|are|am|was|were|do|does|did|can|could|will|would|should|has|have|had|may|might)"
    r"(?!\S)"
)


def reaches(padded: str, since: int, start: int, window: int) -> bool:
    return start - since == 1 or (
        padded.count(" ", since, start) <= window
        and CLAUSE_BREAK.search(padded, since, start) is None
    )


def opens_question(padded: str, start: int, end: int) -> bool:
    before = start - 1
    while before >= 0 and padded[before] == " ":
        before -= 1
    if before >= 0 and padded[before] not in ".!?":
        return False
    closing = _SENTENCE_END.search(padded, end)
    return closing is not None and closing.group() == "?"


def close(  # noqa: PLR0912
    padded: str,
    rules: Rules,
    hits: list[Hit],
    weights: list[float],
    *,
    start: int,
    end: int,
    run: str,
) -> None:
    """Weigh the sentence that the run at start:end closes; see the module docstring."""
    question = "?" in run
    emphatic = len(run) > 1
    # The sentence runs from after the last ".", "!" or "?" before the run; its hits are the
    # last ones (hits are in text order), so walking back keeps long texts linear.
    opening = 1 + max(
        padded.rfind(".", 0, start), padded.rfind("!", 0, start), padded.rfind("?", 0, start)
    )
    first = len(hits)
    while first and hits[first - 1][0] >= opening:
        first -= 1
    asks: bool | None = None  # a yes/no question; looked at only if a stressed cue is asked
    amplified: set[int] = set()
    for index in range(first, len(hits)):
        hit = hits[index]
        label = hit[2]
        if not weights[index] or label in _UNSCORED:
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
        hits.append((start, end, label, start, note))
        weights.append(0.0)
    if "!" in run and question:
        hits.append((start, end, STRESSED, start, note))
        weights.append(rules.interrobang_weight)
    elif run.count("?") >= 3:
        hits.append((start, end, STRESSED, start, note))
        weights.append(rules.question_run_weight)
