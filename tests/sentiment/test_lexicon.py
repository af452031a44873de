"""The shipped lexicon: it loads, it is broad, and every phrase in it can be found."""

from __future__ import annotations

import tomllib
from collections import Counter
from importlib import resources

from signals.sentiment.lexicon import (
    CUE,
    LABELS,
    NEUTRAL,
    SHIELD,
    build,
    normalize,
)
from signals.sentiment.pattern import Patterns


def raw() -> dict[str, object]:
    data = resources.files("signals.sentiment").joinpath("data/lexicon.toml").read_bytes()
    return tomllib.loads(data.decode())


def test_every_label_has_broad_coverage() -> None:
    entries = build().entries
    counts = Counter(LABELS[entry.label] for entry in entries.values() if entry.kind == CUE)
    assert counts["stressed"] >= 500
    assert counts["uncertain"] >= 300
    assert counts["positive"] >= 300
    assert sum(entry.kind == SHIELD for entry in entries.values()) >= 100


def test_the_file_is_written_in_normal_form() -> None:
    data = raw()
    cues = data["cues"]
    assert isinstance(cues, dict)
    for label, table in cues.items():
        for phrase in table:
            assert normalize(phrase) == phrase, (label, phrase)


def test_every_shipped_phrase_is_found_on_its_own() -> None:
    entries = build().entries
    patterns = Patterns.build(entries)
    for phrase in entries:
        padded = " " + phrase + " "
        spans = patterns.spans(padded)
        assert [
            (padded[start + 1 : end], patterns.phrases[index]) for index, start, end in spans
        ] == [(phrase, phrase)], phrase


def test_a_phrase_negated_means_what_the_file_says() -> None:
    entries = build().entries
    assert entries["happy"].negated_label == LABELS.index("stressed")
    assert entries["bad" if "bad" in entries else "awful"].negated_label == LABELS.index("positive")
    assert entries["confused"].negated_label == NEUTRAL
    assert entries["understand"].label == NEUTRAL  # counts only when negated
    assert entries["understand"].negated_label == LABELS.index("uncertain")


def test_irony_names_cues_of_its_labels() -> None:
    data = raw()
    praise, mishaps = data["ironic_praise"], data["mishaps"]
    assert isinstance(praise, list) and isinstance(mishaps, list)
    irony = build().irony
    assert irony.praise == {normalize(phrase) for phrase in praise}
    assert irony.mishaps == {normalize(phrase) for phrase in mishaps}
