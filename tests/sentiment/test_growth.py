"""The cost of a message grows linearly with its length, whatever its shape.

End users write the text, so a crafted one must not hold the event loop: a rule that rescans
what it has read, or a pattern that backtracks, costs time squared in the length. Each shape
below is measured at 1,000 and at 8,000 characters in this process, and the 8,000-character
one may cost at most GROWTH times the other: 8 for linear, with room for noise, while a
quadratic rule costs 64 times as much (the CAPS rule of the regular-expression classifier took
0.9 s on "A'A'A'…AA?", 57 times its cost at 1,000). This checks growth, not speed: the
figures are CPU time, the best of several rounds, with the garbage collector paused so that it
does not bill one shape for another's garbage; the absolute figures are in
benchmarks/bench_sentiment.py.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest

from signals.sentiment import Classifier

GROWTH = 20.0
ROUNDS = 9
SMALL, LARGE = 1_000, 8_000


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda size: (unit * (size // len(unit) + 1))[:size]


SHAPES: dict[str, Callable[[int], str]] = {
    # capitals: the shape that stalled the service, and its relatives
    "caps and apostrophes": lambda size: ("A'" * size)[: size - 3] + "AA?",
    "caps words": _repeat("WHY IS THIS BROKEN "),
    "one caps run": _repeat("A"),
    "single capitals": _repeat("A B "),
    "shouted shout words": _repeat("PLEASE NOW "),
    "caps apostrophe words": _repeat("DON'T 'EM "),
    # punctuation
    "apostrophes": _repeat("'"),
    "questions": _repeat("why? "),
    "lone bangs": _repeat("a! "),
    "bang runs": _repeat("wow!! "),
    "interrobangs": _repeat("?!"),
    "dots": _repeat("."),
    "dashes": _repeat("a - "),
    "quotes": _repeat('"fast" '),
    "one open quote": lambda size: '"' + _repeat("worried ")(size - 1),
    "quote marks then a cue": lambda size: '"' * (size - 8) + " furious",
    "smileys": _repeat(" :)"),
    # cues and the rules around them
    "cues": _repeat("furious "),
    "questioned cues": _repeat("furious? "),
    "modified cues": _repeat("really sad "),
    "negated cues": _repeat("not happy "),
    "negators": _repeat("don't "),
    "negated questions": _repeat("Don't you? "),
    "a far negator": lambda size: "not x x x x " + _repeat("know ")(size - 12),
    "contrasts": _repeat("sad but "),
    "a topic then cues": lambda size: "explain what " + _repeat("stress ")(size - 13),
    "a name then cues": lambda size: "named " + _repeat("stress ")(size - 6),
    "names and cues": _repeat("named furious stress "),
    "praise then a mishap": lambda size: _repeat("great ")(size - 8) + " crashed",
    "praised sentences then a mishap": lambda size: _repeat("great. ")(size - 8) + " crashed",
    "praise and negated mishaps": _repeat("love how it never crashed "),
    "deliberations then cues": _repeat("not sure whether to escalate this 😡 "),
    "doubts then hints": _repeat("not sure what wrong "),
    "a doubt then hints": lambda size: "wondering if " + _repeat("wrong ")(size - 13),
    "doubts and clauses": _repeat("not sure if wrong, "),
    "shields and literals": _repeat("stress test as expected "),
    "literal markers": _repeat("as expected "),
    "a yes/no question": lambda size: _repeat("is ")(size - 8) + "furious?",
    "a quoted question": lambda size: _repeat('"furious" ')(size - 1) + "?",
    "phrases cut short": _repeat("not surely "),
    "phrases cut short, accented": _repeat("not surely é "),
    # emoji, words, whitespace, other scripts
    "emoji": _repeat("\U0001f621"),
    "alternating emoji": _repeat("\U0001f621\U0001f60a"),
    "emoji and words": _repeat("\U0001f621 thanks "),
    "one long word": _repeat("a"),
    "a long word between negator and cue": lambda size: "not " + "x" * (size - 15) + " understand",
    "whitespace": _repeat(" "),
    "mixed whitespace": _repeat(" \t\n"),
    "combining accents": _repeat("e\u0301"),
    "combining accents on capitals": _repeat("E\u0301"),
    "curly quotes": _repeat("\u201cgreat\u201d \u2019"),
}


def _cost(classify: Callable[[str], object], text: str, calls: int) -> float:
    started = time.thread_time()
    for _ in range(calls):
        classify(text)
    return (time.thread_time() - started) / calls


def growth(classify: Callable[[str], object], make: Callable[[int], str]) -> float:
    """How many times the large text costs the small one: best of ROUNDS, interleaved."""
    small, large = make(SMALL), make(LARGE)
    assert len(small) == SMALL and len(large) == LARGE
    classify(small), classify(large)  # warm up
    # The small text runs as many times over as it is shorter, so that both samples are long
    # enough for the clock.
    calls = LARGE // SMALL
    enabled = gc.isenabled()
    gc.disable()
    try:
        best_small = best_large = float("inf")
        for _ in range(ROUNDS):
            best_small = min(best_small, _cost(classify, small, calls))
            best_large = min(best_large, _cost(classify, large, 1))
    finally:
        if enabled:
            gc.enable()
    return best_large / max(best_small, 1e-9)


@pytest.mark.parametrize("make", SHAPES.values(), ids=SHAPES.keys())
def test_cost_grows_linearly(classifier: Classifier, make: Callable[[int], str]) -> None:
    ratio = growth(classifier.classify, make)
    assert ratio < GROWTH, f"8,000 characters cost {ratio:.1f} times 1,000"


@pytest.mark.parametrize("make", SHAPES.values(), ids=SHAPES.keys())
def test_every_shape_gets_a_label(classifier: Classifier, make: Callable[[int], str]) -> None:
    result = classifier.classify(make(LARGE))
    assert result.label in {"stressed", "uncertain", "positive", "neutral"}
    assert all(len(cue) < 200 for cue in result.cues)  # excerpts, never the whole text
