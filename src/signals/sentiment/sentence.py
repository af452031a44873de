"""Sentences and clauses of the padded text: the rules that look beyond a single match.

- `close(padded, rules, hits, weights, start, end, since)` weighs the sentence that a "?" or a
  run of "!" and "?" closes (`since`: where the previous such run ended, or 0): a question
  makes its hedges weigh more and its praise less, and a quoted word in it is a term asked
  about, not sarcasm; a run ("!!", "?!", "???") amplifies every cue of its sentence, and "?!"
  or "???" is stressed on its own. Each sentence is looked at once, from its start: linear in
  the text however many sentences it has.
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
# The first word of a sentence that asks a yes/no question ("is it ...?", "does that ...?").
_YES_NO = frozenset(
    [
        *("is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "will"),
        *("would", "should", "has", "have", "had", "may", "might"),
    ]
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


def close(  # noqa: PLR0912, PLR0917  # positional: once per sentence on the hot path
    padded: str,
    rules: Rules,
    hits: list[Hit],
    weights: list[float],
    start: int,
    end: int,
    since: int,
) -> None:
    """Weigh the sentence that the run at start:end closes; see the module docstring."""
    run = padded[start:end]
    question = "?" in run
    stressed = question and ("!" in run or run.count("?") >= 3)  # "?!", "???": stressed alone
    count = len(hits)
    if not stressed and (not count or hits[-1][0] < since):
        return  # no hit since the last run, so none in this sentence: nothing to weigh
    emphatic = end - start > 1
    note = "emphasis:" + run[:4]
    if count and hits[-1][0] >= since:
        # The sentence runs from after the last ".", "!" or "?" before the run, at `since` at
        # the earliest (the previous run ends one); its hits are the last ones.
        opening = 1 + max(
            since - 1,
            padded.rfind(".", since, start),
            padded.rfind("!", since, start),
            padded.rfind("?", since, start),
        )
        first = count
        while first and hits[first - 1][0] >= opening:
            first -= 1
        asks: bool | None = None  # a yes/no question; looked at only if a stressed cue is asked
        amplified = [False, False, False]  # by label, in precedence order
        for index in range(first, count):
            hit = hits[index]
            label = hit[2]
            if not weights[index] or label in _UNSCORED:
                continue
            if question:
                if label == STRESSED:
                    if padded[hit[3]] == '"':
                        quoted = "neutral:" + padded[hit[3] : hit[1]]
                        hits[index] = (hit[0], hit[1], NEUTRAL, hit[3], quoted)
                        weights[index] = 0.0
                        continue
                    if asks is None:
                        words = padded[opening:start].split(None, 1)
                        asks = bool(words) and words[0] in _YES_NO
                    if asks:
                        weights[index] *= rules.question_stressed_factor
                elif label == UNCERTAIN:
                    weights[index] *= rules.question_uncertain_factor
                elif label == POSITIVE:
                    weights[index] *= rules.question_positive_factor
            if emphatic:
                weights[index] *= rules.emphasis_factor
                amplified[label] = True
        for label in (STRESSED, UNCERTAIN, POSITIVE):
            if amplified[label]:
                hits.append((start, end, label, start, note))
                weights.append(0.0)
    if stressed:
        hits.append((start, end, STRESSED, start, note))
        weights.append(rules.interrobang_weight if "!" in run else rules.question_run_weight)
