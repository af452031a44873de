"""The classifier still decides what it decided when data/golden.jsonl was written.

golden.py wrote the file from the classifier as it was before its hot path was rewritten for
speed; every (label, cues) must come out the same, in the same order. A difference is either a
regression or a deliberate change of behaviour, in which case regenerate the file and say so.
"""

from __future__ import annotations

import json
from pathlib import Path

from signals.sentiment import Classifier

GOLDEN = Path(__file__).parent / "data" / "golden.jsonl"


def test_every_golden_output_is_reproduced(classifier: Classifier) -> None:
    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    assert len(rows) > 3000
    differences = []
    for row in rows:
        result = classifier.classify(row["text"])
        if (result.label, result.cues) != (row["label"], row["cues"]):
            differences.append(
                f"{row['source']}: expected {row['label']} {row['cues']},"
                f" got {result.label} {result.cues}"
            )
    assert not differences, f"{len(differences)} differ:\n" + "\n".join(differences[:20])


def test_a_fresh_classifier_agrees_with_the_shared_one(classifier: Classifier) -> None:
    # Construction is cached: a second Classifier must behave exactly like the first.
    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines()[:200]]
    fresh = Classifier()
    for row in rows:
        assert fresh.classify(row["text"]) == classifier.classify(row["text"]), row["source"]
