"""Input the classifier must take in its stride: nothing, a lot, and any Unicode."""

from __future__ import annotations

import pytest

from signals.sentiment import Classification, Classifier
from signals.sentiment.tally import CAPS_WORD, has_caps_word

LABELS = {"stressed", "uncertain", "positive", "neutral"}


@pytest.mark.parametrize("text", [None, "", " ", "   \n\t  "])
def test_nothing_is_neutral_without_cues(classifier: Classifier, text: str | None) -> None:
    assert classifier.classify(text) == Classification("neutral", [])


def test_the_result_is_a_named_pair(classifier: Classifier) -> None:
    result = classifier.classify("thanks!")
    label, cues = result
    assert (label, cues) == (result.label, result.cues) == ("positive", ["positive:thanks"])
    assert isinstance(result.cues, list)


@pytest.mark.parametrize(
    "text",
    [
        ("I'm furious, nothing works. " * 400)[:8192],
        ("Please move my appointment to Tuesday. " * 300)[:8192],
        "a" * 8192,
        "!" * 8192,
        "?" * 8192,
        "not " * 2048,
        "\U0001f621" * 8192,
        ("ÉTAT CRITIQUE " * 700)[:8192],
        # shapes that would cost time squared if a rule rescanned everything found so far
        ("not sure? " * 820)[:8192],
        ("thanks but " * 800)[:8192],
        ("furious!! " * 820)[:8192],
        ('"fast" ' * 1200)[:8192],
        ("isn't " * 1400)[:8192],
    ],
    ids=[
        *("stressed", "neutral", "one-word", "bangs", "questions", "negators", "emoji", "caps"),
        *("many-questions", "many-contrasts", "many-runs", "many-quotes", "many-contractions"),
    ],
)
def test_8192_characters(classifier: Classifier, text: str) -> None:
    assert len(text) <= 8192
    result = classifier.classify(text)
    assert result.label in LABELS
    assert len(result.cues) <= len(text)


def test_a_long_angry_message_stays_angry(classifier: Classifier) -> None:
    text = ("I'm furious, nothing works. " * 400)[:8192]
    assert classifier.classify(text).label == "stressed"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Ça ne marche pas \U0001f621", "stressed"),
        ("İstanbul flight got cancelled, I'm FURIOUS", "stressed"),  # lower() grows "İ"
        ("straße unknown, danke \U0001f44d\U0001f3fd", "positive"),  # skin tone modifier
        ("\U0001f926\u200d\u2642\ufe0f not again", "stressed"),  # a ZWJ sequence
        ("مرحبا، كيف حالك؟", "neutral"),
        ("请帮我预订明天的航班", "neutral"),
        ("e\u0301tude the cafe\u0301 menu", "neutral"),  # combining accents
        ("zero\u200bwidth\u200bspaces everywhere", "neutral"),
        ("nul \x00 and bell \x07 characters", "neutral"),
        ("lone surrogate \ud800 here, thanks", "positive"),
        ("¯\\_(ツ)_/¯ no idea which one", "uncertain"),
        ("yeah, \u201cinstant\u201d transfer, sure", "stressed"),
        ("I\u2019m not sure what this means", "uncertain"),
    ],
)
def test_unicode(classifier: Classifier, text: str, label: str) -> None:
    assert classifier.classify(text).label == label


def test_whitespace_between_words_does_not_matter(classifier: Classifier) -> None:
    assert classifier.classify("not\n\n   happy").cues == ["stressed:not happy"]
    assert classifier.classify("thank\tyou").label == "positive"


def test_the_classifier_keeps_no_state_between_calls(classifier: Classifier) -> None:
    first = classifier.classify("I'm not sure, but this is great?!")
    classifier.classify("FURIOUS!!! nothing works")
    assert classifier.classify("I'm not sure, but this is great?!") == first


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I am here",
        "ABc",
        "AbC",
        "a B c D",
        "the API key",
        "\u00c9TAT",
        "\u00c9T",
        "caf\u00e9 OK",
        "lone \ud800 AB",
        "\U0001f621 NO",
        "\u0130I",
        "ZZ",
        "Z Z",
        "x" * 300 + "QQ",
    ],
)
def test_capitals_are_found_as_the_pattern_finds_them(text: str) -> None:
    assert has_caps_word(text) == (CAPS_WORD.search(text) is not None)
