"""Operators extend the lexicon through settings; mistakes are refused with the key named."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from signals.errors import SettingsError
from signals.sentiment import Classifier, LexiconError
from signals.settings import SentimentSettings, load


def classify(settings: SentimentSettings, text: str) -> tuple[str, list[str]]:
    result = Classifier(settings).classify(text)
    return result.label, result.cues


def test_add_a_cue() -> None:
    assert Classifier().classify("the build is borked").label == "neutral"
    settings = SentimentSettings(cues={"stressed": {"borked": 2.0}})
    assert classify(settings, "the build is borked") == ("stressed", ["stressed:borked"])


def test_an_added_cue_follows_the_rules() -> None:
    settings = SentimentSettings(cues={"stressed": {"grumpy": 1.4}})
    assert classify(settings, "grumpy")[0] == "stressed"
    assert classify(settings, "slightly grumpy")[0] == "neutral"  # 1.4 x 0.65 < threshold
    assert classify(settings, "REALLY grumpy") == (
        "stressed",
        ["emphasis:CAPS", "stressed:really grumpy"],
    )
    assert classify(settings, "not grumpy")[0] == "positive"


def test_override_a_shipped_weight() -> None:
    assert Classifier().classify("cheers").label == "positive"
    assert classify(SentimentSettings(cues={"positive": {"cheers": 0.0}}), "cheers") == (
        "neutral",
        [],
    )


def test_move_a_shipped_phrase_to_another_label() -> None:
    settings = SentimentSettings(cues={"positive": {"insane": 2.0}})
    assert classify(settings, "that trick is insane") == ("positive", ["positive:insane"])


def test_remove_a_shipped_phrase() -> None:
    settings = SentimentSettings(remove=["thanks"])
    assert classify(settings, "thanks") == ("neutral", [])
    assert classify(settings, "thank you")[0] == "positive"


def test_a_neutral_phrase_shields_its_words() -> None:
    assert Classifier().classify("book the panic room").label == "stressed"
    settings = SentimentSettings(cues={"neutral": {"panic room": 0.0}})
    assert classify(settings, "book the panic room") == ("neutral", ["neutral:panic room"])


def test_phrases_are_normalised() -> None:
    settings = SentimentSettings(cues={"stressed": {"  Totally   BORKED ": 2.0}})
    assert classify(settings, "it is totally borked") == (
        "stressed",
        ["stressed:totally borked"],
    )


def test_overrides_from_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        "[sentiment]\n"
        'remove = ["cheers"]\n'
        "[sentiment.cues.uncertain]\n"
        '"no clue whatsoever" = 3.0\n'
        "[sentiment.cues.positive]\n"
        '"chuffed" = 2.0\n'
    )
    classifier = Classifier(load(path, environ={}).sentiment)
    assert classifier.classify("cheers").label == "neutral"
    assert classifier.classify("chuffed to bits").label == "positive"
    assert classifier.classify("no clue whatsoever").cues == ["uncertain:no clue whatsoever"]


def test_the_settings_loader_refuses_an_unknown_label(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[sentiment.cues.angry]\n"grr" = 1.0\n')
    with pytest.raises(SettingsError, match=r"sentiment\.cues"):
        load(path, environ={})


BAD: list[tuple[dict[str, Any], str]] = [
    ({"cues": {"stressed": {"": 1.0}}}, "empty phrase"),
    ({"cues": {"stressed": {"   ": 1.0}}}, "empty phrase"),
    ({"cues": {"stressed": {"grr": math.nan}}}, "finite"),
    ({"cues": {"stressed": {"grr": math.inf}}}, "finite"),
    ({"cues": {"stressed": {"grr": 11.0}}}, "within"),
    ({"cues": {"stressed": {"grr": True}}}, "must be a number"),
    ({"cues": {"stressed": {"grr": "high"}}}, "must be a number"),
    ({"cues": {"stressed": {"gr\x00r": 1.0}}}, "control character"),
    ({"cues": {"stressed": {"x" * 101: 1.0}}}, "longer than 100"),
    ({"cues": {"angry": {"grr": 1.0}}}, "unknown label"),
    ({"cues": {"stressed": ["grr"]}}, "table of phrase"),
    ({"cues": {"stressed": {"grr": 1.0}, "positive": {"GRR": 1.0}}}, "also given under"),
    ({"remove": ["no such phrase here"]}, "not a phrase of the shipped lexicon"),
    ({"remove": [""]}, "empty phrase"),
    ({"remove": [3]}, "must be a string"),
]


@pytest.mark.parametrize(("fields", "message"), BAD)
def test_invalid_overrides_are_refused(fields: dict[str, Any], message: str) -> None:
    # Built by hand, as a caller could: msgspec checks nothing here, the classifier must.
    settings = SentimentSettings(**fields)
    with pytest.raises(LexiconError, match=message) as caught:
        Classifier(settings)
    assert isinstance(caught.value, ValueError)
    assert "sentiment." in str(caught.value)


def test_overrides_do_not_leak_into_the_shipped_lexicon() -> None:
    # Every Classifier of a process shares the shipped lexicon and the compiled patterns.
    assert classify(SentimentSettings(remove=["thanks"]), "thanks") == ("neutral", [])
    assert classify(SentimentSettings(cues={"positive": {"thanks": 0.0}}), "thanks")[0] == "neutral"
    assert (
        classify(SentimentSettings(cues={"stressed": {"thanks": 2.0}}), "thanks")[0] == "stressed"
    )
    assert Classifier().classify("thanks") == ("positive", ["positive:thanks"])
    assert classify(SentimentSettings(), "thanks") == ("positive", ["positive:thanks"])


def test_a_reweighted_phrase_keeps_the_shipped_patterns() -> None:
    # Same phrases, other weights: the patterns are shared, the weights are not.
    settings = SentimentSettings(cues={"positive": {"cheers": 0.2}})
    assert classify(settings, "cheers") == ("neutral", [])
    assert classify(settings, "cheers, that is great") == (
        "positive",
        ["positive:cheers", "positive:that is great"],
    )
    assert Classifier().classify("cheers").label == "positive"
