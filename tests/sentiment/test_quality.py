"""Accuracy floors on labelled sets: the development set and an independently written one.

data/dev.jsonl is the development set (200 hand-written messages); data/written.jsonl holds 585
messages written for this package (support, coding, banking, travel, health, tutoring). Both are
labelled by docs/sentiment-guidelines.md.
"""

from __future__ import annotations

from pathlib import Path

from signals.sentiment import Classifier
from signals.sentiment.evaluate import evaluate, format_report

DEV = Path(__file__).parent / "data" / "dev.jsonl"
WRITTEN = Path(__file__).parent / "data" / "written.jsonl"


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
