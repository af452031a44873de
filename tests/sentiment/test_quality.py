"""Accuracy floors on labelled sets: the development set and an independently written one.

data/dev.jsonl is the development set (200 hand-written messages); data/written.jsonl holds 585
messages written for this package (support, coding, banking, travel, health, tutoring). Both are
labelled by docs/sentiment-guidelines.md.

data/heldout_a.jsonl and data/heldout_b.jsonl (240 messages each, 60 per label) were written and
labelled by the guidelines before the classifier was run on them, by someone who had not tuned
it. Set A's misses were then used to tune the lexicon; set B was measured only before and after.
In a second round B's misses tuned the lexicon (by families of phrases, not the phrases alone),
and data/heldout_c.jsonl (240 messages, 60 per label), written before that round, was measured
only before and after. A third round tuned on C's misses, and data/heldout_d.jsonl (240
messages, 60 per label), written before it, was measured only before and after. A fourth round
tuned on the misses of data/heldout_e.jsonl (240 messages, 60 per label, written for it before
the classifier ran on them), and data/heldout_f.jsonl (240 messages, 60 per label), written
with E by the same person and never looked at, was measured only before and after. The floors
sit a little below what the classifier reached, to catch a regression.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from signals.sentiment import Classifier
from signals.sentiment.evaluate import evaluate, format_report

DEV = Path(__file__).parent / "data" / "dev.jsonl"
WRITTEN = Path(__file__).parent / "data" / "written.jsonl"
# Reached: A 0.988 accuracy, 0.987 macro-F1 (tuned on in round 1); B 0.992, 0.992 (0.896 before
# round 1, 0.904 before round 2, which tuned on it); C 0.954, 0.955 (0.858 before round 2, 0.892
# before round 3, which tuned on it); D 0.883, 0.884 (0.879 before rounds 3 and 4, never tuned
# on); E 0.988, 0.987 (0.904, 0.905 before round 4, which tuned on it); F 0.904, 0.905 (the same
# before round 4, never tuned on: the round's fixes did not transfer to F).
HELDOUT_FLOORS = {"a": 0.97, "b": 0.97, "c": 0.94, "d": 0.86, "e": 0.97, "f": 0.88}


def test_dev_set_floor(classifier: Classifier) -> None:
    report = evaluate(DEV, classifier)
    assert report.total == 200
    assert report.accuracy >= 0.85, format_report(report)
    assert report.macro_f1 >= 0.85, format_report(report)


def test_written_set_floor(classifier: Classifier) -> None:
    report = evaluate(WRITTEN, classifier)
    assert report.accuracy >= 0.9, format_report(report)
    assert report.macro_f1 >= 0.9, format_report(report)
    for label, score in report.per_label.items():
        assert score.f1 >= 0.85, f"{label}\n{format_report(report)}"


@pytest.mark.parametrize("name", sorted(HELDOUT_FLOORS))
def test_heldout_floor(classifier: Classifier, name: str) -> None:
    report = evaluate(Path(__file__).parent / "data" / f"heldout_{name}.jsonl", classifier)
    assert report.total == 240
    assert report.accuracy >= HELDOUT_FLOORS[name], format_report(report)
    assert report.macro_f1 >= HELDOUT_FLOORS[name], format_report(report)
