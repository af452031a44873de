"""The cues explain the decision: their format, their order, and that they name the winner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from signals.sentiment import Classification, Classifier

CUE = re.compile(r"^(stressed|uncertain|positive|neutral|negated|emphasis|contrast):.+$")
WRITTEN = Path(__file__).parent / "data" / "written.jsonl"


def texts() -> list[str]:
    return [json.loads(line)["text"] for line in WRITTEN.read_text().splitlines()]


def test_every_cue_has_the_documented_format(classifier: Classifier) -> None:
    for text in texts():
        result = classifier.classify(text)
        assert all(CUE.match(cue) for cue in result.cues), (text, result)
        assert len(result.cues) == len(set(result.cues)), (text, result)


def test_an_emotional_label_names_what_decided_it(classifier: Classifier) -> None:
    for text in texts():
        result = classifier.classify(text)
        if result.label != "neutral":
            own = (result.label + ":", "emphasis:")  # "what now?!" is stressed by its "?!"
            assert any(cue.startswith(own) for cue in result.cues), result


def test_cues_follow_the_text(classifier: Classifier) -> None:
    result = classifier.classify("thanks, this is great and so helpful")
    assert result == Classification(
        "positive", ["positive:thanks", "positive:great", "positive:so helpful"]
    )


def test_negation_shows_in_the_cue(classifier: Classifier) -> None:
    assert classifier.classify("not bad").cues == ["positive:not bad"]
    assert classifier.classify("I'm not pleased").cues == ["stressed:not pleased"]
    assert classifier.classify("I'm not confused").cues == ["negated:not confused"]


def test_emphasis_shows_in_the_cues(classifier: Classifier) -> None:
    assert classifier.classify("I'm FURIOUS").cues == ["emphasis:CAPS", "stressed:furious"]
    assert classifier.classify("this is awful!!!").cues == ["stressed:awful", "emphasis:!!!"]


def test_only_the_winning_label_is_explained(classifier: Classifier) -> None:
    result = classifier.classify("Thanks, but I'm still confused about the fees")
    assert result.label == "uncertain"
    assert not any(cue.startswith("positive:") for cue in result.cues)


def test_a_plain_message_has_no_cues(classifier: Classifier) -> None:
    assert classifier.classify("Book a table for two at 7pm") == Classification("neutral", [])


@pytest.mark.parametrize("text", ["What time does the pharmacy close?", "how do I export a CSV"])
def test_a_plain_question_says_so(classifier: Classifier, text: str) -> None:
    assert classifier.classify(text) == Classification("neutral", ["neutral:information question"])
