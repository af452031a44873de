"""The verdict on one message: its label by score and precedence, and the cues that explain it.

A hit is a tuple (start, end, label, cue start, note) found in the padded text; its weight sits
at the same index in a parallel list. A note of "" means the cue is the label and the text from
cue start to end, built only if that label wins; otherwise the note is the whole cue string
("emphasis:!!!"). Contrast words are hits with label CONTRAST_MARK: they explain, never vote.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from signals.labels import Sentiment
from signals.sentiment.lexicon import LABELS, NEUTRAL, POSITIVE, STRESSED, UNCERTAIN, Irony

Hit = tuple[int, int, int, int, str]
CONTRAST_MARK = -1
# A cue that quotes a stretch of the text (a quotation, a topic and the feeling in it) quotes
# at most this much of it, its two ends joined by " … ": every cue of a long quotation quotes
# it, and the cues of a message must stay linear in its length.
EXCERPT_CHARS = 64

_QUESTION_WORDS = frozenset(
    [
        *("what", "what's", "whats", "where", "when", "which", "who", "whom", "whose", "why"),
        *("how", "is", "are", "am", "do", "does", "did", "can", "could", "would", "will"),
        *("should", "may", "has", "have"),
    ]
)


class Classification(NamedTuple):
    label: Sentiment
    cues: list[str]


_classification = functools.partial(tuple.__new__, Classification)


def decide(
    hits: list[Hit], weights: list[float], padded: str, threshold: float, irony: Irony
) -> Classification:
    """The first label in precedence order whose score reaches the threshold, and why."""
    if '"' in padded:
        _unquote(hits, weights, padded)
    scores = _scores(hits, weights)
    # Praise with a mishap too weak to win on its own: sarcasm if they share a sentence.
    if (
        scores[STRESSED]
        and scores[STRESSED] < threshold
        and scores[POSITIVE] >= threshold
        and _sarcasm(hits, weights, padded, irony)
    ):
        scores = _scores(hits, weights)
    for winner in (STRESSED, UNCERTAIN, POSITIVE):
        if scores[winner] >= threshold:
            break
    else:
        winner = NEUTRAL
    cues = _cues(hits, padded, winner)
    if winner == NEUTRAL and is_question(padded):
        cues.append("neutral:information question")
    return _classification((LABELS[winner], cues))


def _scores(hits: list[Hit], weights: list[float]) -> list[float]:
    """Each label's score by its index; the last one collects contrast marks (label -1)."""
    scores = [0.0, 0.0, 0.0, 0.0, 0.0]
    for hit, weight in zip(hits, weights, strict=True):
        scores[hit[2]] += weight
    return scores


def _sarcasm(hits: list[Hit], weights: list[float], padded: str, irony: Irony) -> bool:
    """ "Love how the save button deletes my draft": ironic praise (`irony.praise`) in the
    sentence of a mishap (`irony.mishaps`, felt, not negated) counts as stressed; whether any
    did. Only plain cues take part, in text order: the sentence of each is the number of ".",
    "!" and "?" before it, counted over the text between one and the next, so linear in it.
    """
    praise, mishaps = irony
    sentence = counted = 0
    current = -1  # the sentence of the praise in `pending`, and whether it has a mishap
    pending: list[int] = []
    mishap = -1  # the sentence of the last mishap
    turned = False
    for index, (start, end, label, _, note) in enumerate(hits):
        if note or not weights[index] or label not in (POSITIVE, STRESSED) or start < counted:
            continue
        phrase = padded[start:end]
        ironic = label == POSITIVE and phrase in praise
        if not ironic and not (label == STRESSED and phrase in mishaps):
            continue
        sentence += (
            padded.count(".", counted, start)
            + padded.count("!", counted, start)
            + padded.count("?", counted, start)
        )
        counted = start
        if sentence != current:
            pending.clear()
            current = sentence
        if ironic:
            if mishap == sentence:
                hits[index] = (start, end, STRESSED, hits[index][3], "")
                turned = True
            else:
                pending.append(index)
        else:
            mishap = sentence
            for earlier in pending:
                hit = hits[earlier]
                hits[earlier] = (hit[0], hit[1], STRESSED, hit[3], "")
                turned = True
            pending.clear()
    return turned


def _unquote(hits: list[Hit], weights: list[float], padded: str) -> None:
    """Words inside double quotes are mentioned, not felt: Translate "I am worried".

    The quotes pair up in order (first with second, third with fourth); a hit inside a pair
    is neutral. Hits and pairs are both in text order, so a pointer moves through the pairs
    (never back): to the first pair that closes at or after the hit's end. Its position comes
    from counting quotes in C, not from a list of them: a text of thousands of quote marks
    costs no more than a few.
    """
    pairs = padded.count('"') // 2
    counted = quotes = 0  # quotes in padded[:counted]
    last = -1  # where the last of them is
    pair = current = -1  # the pair pointed at, and the one whose ends are known
    opening = closing = -1
    for index, (start, end, label, cue_start, _) in enumerate(hits):
        if end > counted:
            if found := padded.count('"', counted, end):
                quotes += found
                last = padded.rfind('"', counted, end)
            counted = end
        # The pairs that close before `end` are quotes // 2 (pair k closes at quote 2k + 1).
        pair = max(pair, quotes // 2)
        if pair >= pairs:
            return
        if pair != current:
            # Quote 2 * pair opens it: the last one counted, or the first after `counted`.
            opening = last if quotes == 2 * pair + 1 else padded.find('"', counted)
            closing = padded.find('"', opening + 1)
            current = pair
        if opening < cue_start and label != NEUTRAL and weights[index]:
            note = "neutral:" + excerpt(padded, opening, closing + 1)
            hits[index] = (start, end, NEUTRAL, cue_start, note)
            weights[index] = 0.0


def _cues(hits: list[Hit], padded: str, winner: int) -> list[str]:
    """The winner's cues in text order, with a contrast word its cues come after."""
    name = LABELS[winner] + ":"
    cues: list[str] = []
    contrast = ""
    add = cues.append
    for _, end, label, cue_start, note in hits:
        if label == winner:
            if contrast and winner != NEUTRAL:
                add(contrast)
                contrast = ""
            if note:
                add(note)
            elif end - cue_start <= EXCERPT_CHARS:
                add(name + padded[cue_start:end])
            else:
                add(name + excerpt(padded, cue_start, end))
        elif label == CONTRAST_MARK:
            contrast = note
    return list(dict.fromkeys(cues))


def excerpt(padded: str, start: int, end: int, middle: tuple[int, int] | None = None) -> str:
    """padded[start:end], or its ends around " … " when longer than EXCERPT_CHARS: the ends
    given by `middle` (the text between them left out), else half the length each."""
    if end - start <= EXCERPT_CHARS:
        return padded[start:end]
    if middle is not None:
        return padded[start : middle[0]] + " … " + padded[middle[1] : end]
    half = EXCERPT_CHARS // 2
    return padded[start : start + half] + " … " + padded[end - half : end]


def is_question(padded: str) -> bool:
    """Ends in "?" or starts with a question word: how a plain information request looks."""
    words = padded.split(None, 1)
    return padded.rstrip().endswith("?") or (bool(words) and words[0] in _QUESTION_WORDS)
