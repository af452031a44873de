"""The sentiment lexicon: the shipped data file with an operator's overrides applied.

`build(settings)` reads `data/lexicon.toml` from the package (importlib.resources), drops the
phrases named in `settings.remove`, then adds or re-weights the phrases in `settings.cues`, and
returns a `Lexicon`: one table from normalised phrase to `Entry`, plus the numeric `Rules`.
Every phrase has exactly one role. An override that names a shipped phrase under another label
moves it to that label; an override for a phrase the file uses as a modifier (say "really")
turns it into a cue. Mistakes raise `LexiconError` (a `ValueError`) naming the settings key.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Annotated, Literal, NamedTuple

import msgspec
from msgspec import Meta, Struct

from signals.labels import SENTIMENTS, Sentiment
from signals.settings import SentimentSettings

# Label indexes, in precedence order; NEUTRAL is never scored.
STRESSED, UNCERTAIN, POSITIVE, NEUTRAL = 0, 1, 2, 3
LABELS = SENTIMENTS

# Entry kinds. Plain ints: the classifier compares them once per match.
CUE, SHIELD, NEGATOR, MODIFIER, CONTRAST, LITERAL, SHOUT, IGNORE, TOPIC, DOUBT = range(10)
# What negation makes of a cue: "not happy" is stressed, "not bad" positive, and "not confused"
# is nothing in particular. `when_negated` in the file says otherwise for particular phrases.
FLIP = {STRESSED: POSITIVE, POSITIVE: STRESSED, UNCERTAIN: NEUTRAL, NEUTRAL: NEUTRAL}

ScoredLabel = Literal["stressed", "uncertain", "positive"]

MAX_PHRASE_CHARS = 100
MAX_WEIGHT = 10.0

# Curly quotes and apostrophes read as straight ones; one character for one, so that positions
# in the folded text still point at the same characters of the original.
FOLD = (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u00b4", "'"))
_VARIATION_SELECTOR = "\ufe0f"

Ratio = Annotated[float, Meta(gt=0, le=1)]
Weight = Annotated[float, Meta(ge=0, le=MAX_WEIGHT)]


class Rules(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    threshold: Annotated[float, Meta(gt=0, le=MAX_WEIGHT)]
    negation_window: Annotated[int, Meta(ge=0, le=10)]
    modifier_window: Annotated[int, Meta(ge=0, le=10)]
    contrast_factor: Ratio
    negation_flip: Ratio
    question_uncertain_factor: Annotated[float, Meta(ge=1, le=5)]
    question_positive_factor: Ratio
    question_stressed_factor: Ratio
    emphasis_factor: Annotated[float, Meta(ge=1, le=5)]
    interrobang_weight: Weight
    question_run_weight: Weight
    shouting_weight: Weight
    shout_weight: Weight
    scare_quote_weight: Weight


class LexiconFile(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    rules: Rules
    negators: list[str]
    topic: list[str]
    naming: list[str]
    ironic_praise: list[str]
    mishaps: list[str]
    deliberation: dict[str, Annotated[float, Meta(gt=0, le=MAX_WEIGHT)]]
    doubts: list[str]
    not_negating: list[str]
    contrast: list[str]
    turnaround: list[str]
    literal_after: list[str]
    shout: list[str]
    scare_quoted: list[str]
    intensifiers: dict[str, Annotated[float, Meta(gt=1, le=5)]]
    diminishers: dict[str, Annotated[float, Meta(gt=0, lt=1)]]
    cues: dict[Sentiment, dict[str, Weight]]
    when_negated: dict[ScoredLabel, dict[str, Weight]]


class Entry(NamedTuple):
    kind: int
    label: int  # a label index for CUE and SHIELD; NEUTRAL otherwise
    weight: float  # a cue's weight, or a modifier's multiplier
    negated_label: int = NEUTRAL  # what a negated CUE counts for ...
    negated_weight: float = 0.0  # ... and how much


class Irony(NamedTuple):
    """Praise that a mishap in the same sentence turns to sarcasm: "love how it deletes my
    draft". Each is a phrase of a cue with that label (positive, stressed) in the lexicon."""

    praise: frozenset[str]
    mishaps: frozenset[str]


class Lexicon(NamedTuple):
    rules: Rules
    entries: dict[str, Entry]
    irony: Irony


class LexiconError(ValueError):
    """The lexicon or an override of it cannot be used; the message names the key."""


def normalize(phrase: str) -> str:
    """Lower case, straight quotes, single spaces: the form both phrases and text are matched in."""
    folded = phrase.lower().replace(_VARIATION_SELECTOR, "")
    for curly, straight in FOLD:
        folded = folded.replace(curly, straight)
    return " ".join(folded.split())


@functools.cache
def read_shipped() -> LexiconFile:
    """The data file, decoded once per process: it is part of the installed package."""
    raw = resources.files("signals.sentiment").joinpath("data/lexicon.toml").read_bytes()
    try:
        return msgspec.toml.decode(raw, type=LexiconFile)
    except msgspec.ValidationError as exc:
        raise LexiconError(f"sentiment/data/lexicon.toml: {exc}") from None


def _shipped_entries(data: LexiconFile) -> dict[str, Entry]:
    roles: list[tuple[str, Iterable[str], Entry]] = [
        ("negators", data.negators, Entry(NEGATOR, NEUTRAL, 1.0)),
        ("not_negating", data.not_negating, Entry(IGNORE, NEUTRAL, 1.0)),
        ("topic", data.topic, Entry(TOPIC, NEUTRAL, 1.0)),
        # A name is a topic that reaches only the next few words; its weight 0 marks it.
        ("naming", data.naming, Entry(TOPIC, NEUTRAL, 0.0)),
        ("contrast", data.contrast, Entry(CONTRAST, NEUTRAL, 0.0)),
        # A turnaround is a contrast that discounts doubts too; its weight marks it.
        ("turnaround", data.turnaround, Entry(CONTRAST, NEUTRAL, 1.0)),
        ("literal_after", data.literal_after, Entry(LITERAL, NEUTRAL, 1.0)),
        ("shout", data.shout, Entry(SHOUT, NEUTRAL, data.rules.shout_weight)),
    ]
    entries: dict[str, Entry] = {}
    owner: dict[str, str] = {}

    def put(section: str, phrase: str, entry: Entry) -> None:
        key = normalize(phrase)
        if not key:
            raise LexiconError(f"sentiment/data/lexicon.toml: {section}: empty phrase")
        if key in owner:
            raise LexiconError(
                f"sentiment/data/lexicon.toml: {section}: {key!r} is already in {owner[key]}"
            )
        owner[key] = section
        entries[key] = entry

    for section, phrases, entry in roles:
        for phrase in phrases:
            put(section, phrase, entry)
    for phrase, weight in data.deliberation.items():
        # A doubt about whether to do something: uncertain, and what follows is its topic.
        put("deliberation", phrase, Entry(TOPIC, UNCERTAIN, weight))
    for section, table in (("intensifiers", data.intensifiers), ("diminishers", data.diminishers)):
        for phrase, factor in table.items():
            put(section, phrase, Entry(MODIFIER, NEUTRAL, factor))
    flip = data.rules.negation_flip
    for label, cues in data.cues.items():
        index = LABELS.index(label)
        for phrase, weight in cues.items():
            put(f"cues.{label}", phrase, cue_entry(index, weight, flip, phrase))
    for label, cues in data.when_negated.items():
        index = LABELS.index(label)
        for phrase, weight in cues.items():
            key = normalize(phrase)
            plain = entries.get(key)
            if plain is not None and plain.kind != CUE:
                raise LexiconError(
                    f"sentiment/data/lexicon.toml: when_negated.{label}: {key!r} is already in"
                    f" {owner[key]}"
                )
            base = plain or Entry(CUE, NEUTRAL, 0.0)
            entries[key] = base._replace(negated_label=index, negated_weight=weight)
            owner.setdefault(key, f"when_negated.{label}")
    _mark_doubts(entries, data.doubts)
    # Every scare-quoted word is the same cue; the phrase only tells it from an emoji.
    sarcasm = cue_entry(STRESSED, data.rules.scare_quote_weight, flip, "scare-quoted")
    for word in data.scare_quoted:
        for quote in "\"'":
            put("scare_quoted", f"{quote}{word}{quote}", sarcasm)
    return entries


def _mark_doubts(entries: dict[str, Entry], doubts: Iterable[str]) -> None:
    """A doubt is an uncertain cue that also weighs the hints of its clause (see tally)."""
    for phrase in doubts:
        key = normalize(phrase)
        cue = entries.get(key)
        if cue is None or cue.kind != CUE or cue.label != UNCERTAIN:
            raise LexiconError(f"sentiment/data/lexicon.toml: doubts: {key!r} is no uncertain cue")
        entries[key] = cue._replace(kind=DOUBT)


def cue_entry(label: int, weight: float, flip: float, phrase: str) -> Entry:
    """A cue's entry: its label and weight, and what negation makes of it (see FLIP)."""
    if label == NEUTRAL:
        return Entry(SHIELD, NEUTRAL, weight)
    if not any(char.isalpha() for char in phrase):
        # An emoji or emoticon shows what it shows whatever comes before it: "if I can't get
        # in 😰" is anxious. Negation leaves it as it is (see tally).
        return Entry(CUE, label, weight, label, weight)
    return Entry(CUE, label, weight, FLIP[label], weight * flip if FLIP[label] != NEUTRAL else 0.0)


def _check_phrase(where: str, phrase: object) -> str:
    if not isinstance(phrase, str):
        raise LexiconError(f"{where}: a phrase must be a string, got {phrase!r}")
    key = normalize(phrase)
    if not key:
        raise LexiconError(f"{where}: empty phrase {phrase!r}; a cue needs at least one character")
    if len(key) > MAX_PHRASE_CHARS:
        raise LexiconError(f"{where}: phrase is longer than {MAX_PHRASE_CHARS} characters")
    if any(not char.isprintable() for char in key):
        raise LexiconError(f"{where}: phrase {phrase!r} contains a control character")
    return key


def _apply_overrides(
    entries: dict[str, Entry],
    cues: Mapping[Sentiment, Mapping[str, float]],
    remove: Iterable[str],
    flip: float,
) -> None:
    # SentimentSettings may be built by hand, skipping msgspec's checks: check types here too.
    for position, phrase in enumerate(remove):
        key = _check_phrase(f"sentiment.remove[{position}]", phrase)
        if entries.pop(key, None) is None:
            raise LexiconError(
                f"sentiment.remove[{position}]: {phrase!r} is not a phrase of the shipped lexicon"
            )
    seen: dict[str, str] = {}
    for label, table in cues.items():
        if label not in LABELS:
            raise LexiconError(f"sentiment.cues.{label}: unknown label; use one of {LABELS}")
        if not isinstance(table, Mapping):
            raise LexiconError(f"sentiment.cues.{label}: expected a table of phrase = weight")
        index = LABELS.index(label)
        for phrase, weight in table.items():
            where = f"sentiment.cues.{label}.{phrase!r}"
            key = _check_phrase(where, phrase)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise LexiconError(f"{where}: weight must be a number, got {weight!r}")
            if not math.isfinite(weight):
                raise LexiconError(f"{where}: weight must be a finite number, got {weight!r}")
            if abs(weight) > MAX_WEIGHT:
                raise LexiconError(f"{where}: weight must be within ±{MAX_WEIGHT:g}")
            if key in seen:
                raise LexiconError(f"{where}: the phrase is also given under {seen[key]}")
            seen[key] = f"sentiment.cues.{label}"
            entry = cue_entry(index, float(weight), flip, key)
            shipped = entries.get(key)
            if shipped is not None and shipped.kind in (CUE, DOUBT) and entry.kind == CUE:
                # The override sets what the phrase means; what its negation means stays, and
                # so does a doubt's reach while it stays uncertain.
                entry = entry._replace(
                    negated_label=shipped.negated_label, negated_weight=shipped.negated_weight
                )
                if shipped.kind == DOUBT and entry.label == UNCERTAIN:
                    entry = entry._replace(kind=DOUBT)
            entries[key] = entry


def _irony(data: LexiconFile, entries: Mapping[str, Entry]) -> Irony:
    """The ironic praise and the mishaps that are still cues of their label (an override may
    have moved or removed one)."""

    def cues(phrases: Iterable[str], label: int) -> frozenset[str]:
        keys = (normalize(phrase) for phrase in phrases)
        return frozenset(
            key
            for key in keys
            if (entry := entries.get(key)) is not None
            and entry.kind == CUE
            and entry.label == label
        )

    return Irony(cues(data.ironic_praise, POSITIVE), cues(data.mishaps, STRESSED))


def build(settings: SentimentSettings | None = None) -> Lexicon:
    data = read_shipped()
    entries = _shipped_entries(data)
    if settings is not None:
        _apply_overrides(entries, settings.cues, settings.remove, data.rules.negation_flip)
    return Lexicon(data.rules, entries, _irony(data, entries))


@functools.cache
def shipped() -> Lexicon:
    """The shipped lexicon without overrides, built once per process and shared: read only."""
    return build()
