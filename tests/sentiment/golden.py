"""Writes data/golden.jsonl: what the classifier decides for a fixed corpus, to hold it to that.

    .venv/bin/python -m tests.sentiment.golden     # from the repository root

Run once, before a change that must not alter behaviour (a speed-up); test_golden.py then
checks that every (label, cues) is reproduced exactly. Regenerate only for a deliberate change
of behaviour, and say which outputs moved and why.

The corpus, each line tagged with where it came from:
- "dev:<id>"      every message of the development set (data/dev.jsonl);
- "written:<id>"  every message of data/written.jsonl;
- "bench:<n>"     every message benchmarks/bench_sentiment.py times, and each of its sentences;
- "mixed:<n>"     sentences of all of the above run together and roughened (capitals, "!!",
  "?!", quotes, curly quotes, doubled spaces, line breaks, negators and contrast words put
  in front), so that every rule meets unusual neighbours.
"""

from __future__ import annotations

import json
import random
import re
import runpy
from collections.abc import Iterator
from pathlib import Path

from signals.sentiment import Classifier

HERE = Path(__file__).parent
GOLDEN = HERE / "data" / "golden.jsonl"
REPO = Path(__file__).parents[2]
DEV = HERE / "data" / "dev.jsonl"
# Loaded by path: benchmarks/ is not a package, and mypy sees it as top-level modules.
BENCHMARK = REPO / "benchmarks" / "bench_sentiment.py"
WRITTEN = HERE / "data" / "written.jsonl"
BENCH_MESSAGES = 2000  # what bench_sentiment.py times by default
MIXED_MESSAGES = 1000

_PREFIXES = ["not ", "never ", "really ", "so ", "but ", "a bit ", "was ", "no ", "isn't ", "oh "]
_QUOTES = [('"', '"'), ("'", "'"), ("\u201c", "\u201d")]
_SUFFIXES = ["!!", "?!", "???", "?", "!", "!!!", " :)", " :(", " \U0001f621", " \U0001f64f", ""]


def _labelled(path: Path, tag: str) -> Iterator[tuple[str, str]]:
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            yield f"{tag}:{row['id']}", row["text"]


def _roughen(rng: random.Random, sentence: str) -> str:
    words = sentence.split(" ")
    if rng.random() < 0.3:
        index = rng.randrange(len(words))
        words[index] = words[index].upper()
    if rng.random() < 0.2:
        index = rng.randrange(len(words))
        opening, closing = rng.choice(_QUOTES)
        words[index] = opening + words[index] + closing
    text = rng.choice(["  ", " ", " ", "\n", " "]).join(words)
    if rng.random() < 0.3:
        text = rng.choice(_PREFIXES) + text
    if rng.random() < 0.4:
        text = re.sub(r"[.!?]*$", "", text) + rng.choice(_SUFFIXES)
    return text


def corpus() -> Iterator[tuple[str, str]]:
    benchmark = runpy.run_path(str(BENCHMARK))
    sentences: list[str] = benchmark["SENTENCES"]
    yield from _labelled(DEV, "dev")
    yield from _labelled(WRITTEN, "written")
    for number, sentence in enumerate(sentences):
        yield f"bench:sentence{number}", sentence
    for number, text in enumerate(benchmark["messages"](BENCH_MESSAGES)):
        yield f"bench:{number}", text
    pool = [text for _, text in _labelled(DEV, "dev")]
    pool += [text for _, text in _labelled(WRITTEN, "written")] + sentences
    rng = random.Random(20240611)
    for number in range(MIXED_MESSAGES):
        parts = [_roughen(rng, rng.choice(pool)) for _ in range(rng.randint(1, 3))]
        yield f"mixed:{number}", rng.choice([" ", ", ", ". ", " but ", "  "]).join(parts)


def main() -> None:
    classifier = Classifier()
    with GOLDEN.open("w") as out:
        for source, text in corpus():
            result = classifier.classify(text)
            row = {"source": source, "text": text, "label": result.label, "cues": result.cues}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
