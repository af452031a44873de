"""The evaluation report: the figures are right, the table reads well, bad files are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signals.errors import DatasetError
from signals.sentiment import Classifier
from signals.sentiment.evaluate import evaluate, format_report


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_report_of_a_small_set(tmp_path: Path, classifier: Classifier) -> None:
    rows = [
        {"id": "a", "text": "I'm furious, nothing works", "label": "stressed"},
        {"id": "b", "text": "not sure which form I need", "label": "uncertain"},
        {"id": "c", "text": "thanks, that fixed it", "label": "positive"},
        {"id": "d", "text": "book a table for two", "label": "neutral"},
        {"id": "e", "text": "book a table for three", "label": "positive"},  # a deliberate miss
    ]
    report = evaluate(write(tmp_path / "set.jsonl", rows), classifier)
    assert report.total == 5
    assert report.accuracy == pytest.approx(0.8)
    assert report.confusion["positive"]["neutral"] == 1
    assert report.confusion["neutral"]["neutral"] == 1
    assert report.per_label["stressed"].f1 == pytest.approx(1.0)
    assert report.per_label["positive"].recall == pytest.approx(0.5)
    assert report.per_label["neutral"].precision == pytest.approx(0.5)
    assert report.macro_f1 == pytest.approx((1 + 1 + 2 / 3 + 2 / 3) / 4)
    assert [miss.id for miss in report.misses] == ["e"]
    text = format_report(report)
    for expected in ("accuracy  0.800", "macro-F1", "precision", "confusion", "e  positive"):
        assert expected in text


def test_a_perfect_report_lists_no_misses(tmp_path: Path, classifier: Classifier) -> None:
    rows = [{"text": "thanks so much!", "label": "positive"}]
    report = evaluate(write(tmp_path / "set.jsonl", rows), classifier)
    assert report.accuracy == 1.0
    assert "misclassified" not in format_report(report)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no examples"),
        ('{"text": "hi", "label": "angry"}\n', ":1:"),
        ('{"text": "hi"}\n', ":1:"),
        ('{"text": "ok", "label": "neutral"}\nnot json\n', ":2:"),
    ],
)
def test_bad_files_are_refused(
    tmp_path: Path, classifier: Classifier, content: str, message: str
) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        evaluate(path, classifier)


def test_a_missing_file_is_refused(tmp_path: Path, classifier: Classifier) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        evaluate(tmp_path / "absent.jsonl", classifier)
