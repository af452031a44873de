"""Scores a classifier against a labelled JSON Lines file (the format of dev.jsonl).

`evaluate(path, classifier)` reads one `{"id", "text", "label"}` object per line and returns a
`Report`: accuracy, macro-F1 over the four labels, per-label precision, recall and F1, the
confusion matrix and the misclassified examples. `format_report(report)` renders it as a table
for `signals evaluate PATH`. A line that is not such an object raises `DatasetError` naming the
file and line.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from signals.errors import DatasetError
from signals.labels import Sentiment
from signals.sentiment.classifier import Classifier
from signals.sentiment.lexicon import LABELS


class Example(msgspec.Struct, frozen=True):
    text: str
    label: Sentiment
    id: str = ""


class Miss(msgspec.Struct, frozen=True):
    id: str
    text: str
    expected: Sentiment
    predicted: Sentiment
    cues: list[str]


class LabelScore(msgspec.Struct, frozen=True):
    precision: float
    recall: float
    f1: float
    support: int


class Report(msgspec.Struct, frozen=True):
    total: int
    accuracy: float
    macro_f1: float
    per_label: dict[Sentiment, LabelScore]
    # confusion[expected][predicted] = count
    confusion: dict[Sentiment, dict[Sentiment, int]]
    misses: list[Miss]


_decoder = msgspec.json.Decoder(Example)


def read_examples(path: Path) -> list[Example]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(_decoder.decode(line))
        except msgspec.DecodeError as exc:
            raise DatasetError(f"{path}:{number}: {exc}") from None
    if not examples:
        raise DatasetError(f"{path}: no examples")
    return examples


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def evaluate(path: Path, classifier: Classifier) -> Report:
    confusion = {expected: dict.fromkeys(LABELS, 0) for expected in LABELS}
    misses = []
    examples = read_examples(path)
    for example in examples:
        result = classifier.classify(example.text)
        confusion[example.label][result.label] += 1
        if result.label != example.label:
            misses.append(Miss(example.id, example.text, example.label, result.label, result.cues))
    per_label = {}
    for label in LABELS:
        hits = confusion[label][label]
        predicted = sum(row[label] for row in confusion.values())
        support = sum(confusion[label].values())
        precision, recall = _ratio(hits, predicted), _ratio(hits, support)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = LabelScore(precision, recall, f1, support)
    correct = sum(confusion[label][label] for label in LABELS)
    return Report(
        total=len(examples),
        accuracy=correct / len(examples),
        macro_f1=sum(score.f1 for score in per_label.values()) / len(LABELS),
        per_label=per_label,
        confusion=confusion,
        misses=misses,
    )


def format_report(report: Report) -> str:
    lines = [
        f"examples  {report.total}",
        f"accuracy  {report.accuracy:.3f}",
        f"macro-F1  {report.macro_f1:.3f}",
        "",
        f"{'label':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}",
    ]
    for label, score in report.per_label.items():
        lines.append(
            f"{label:<10} {score.precision:>9.3f} {score.recall:>7.3f} {score.f1:>6.3f}"
            f" {score.support:>8}"
        )
    lines += ["", "confusion (rows: expected, columns: predicted)"]
    lines.append(f"{'':<10} " + " ".join(f"{label:>9}" for label in LABELS))
    for expected, row in report.confusion.items():
        lines.append(f"{expected:<10} " + " ".join(f"{row[label]:>9}" for label in LABELS))
    if report.misses:
        lines += ["", f"misclassified ({len(report.misses)})"]
        for miss in report.misses:
            cues = ", ".join(miss.cues) or "no cues"
            lines.append(f"{miss.id or '-'}  {miss.expected} -> {miss.predicted}  [{cues}]")
            lines.append(f"    {miss.text}")
    return "\n".join(lines)
