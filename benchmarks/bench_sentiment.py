"""How fast the sentiment classifier is built and how many messages per second it labels.

    python benchmarks/bench_sentiment.py [--runs 7] [--messages 2000] [--cpu N]
                                         [--dev PATH] [--baseline REV_OR_DIR]

Builds realistic ~200-character messages (sentences users write to support bots, coding
assistants, banking, travel and health bots, joined until about 200 characters) and times
`Classifier.classify` over all of them in one thread, several times (`--cpu` pins the process
to one CPU where the OS allows it); then the same for the development set's messages. Prints the
median and best rate in CPU time (what the classifier costs; other processes on a shared
machine do not count) and in wall time, the share of each phase of a classification, and how
long a Classifier takes to build: cold (a fresh process: lexicon load and pattern compile) and
warm (another one in the same process, which reuses both). For scale it also prints the rate of
`str.split` over the same messages: on a busy or slow machine both figures drop together, so
their ratio is the steadier number.

`--baseline` times another version of the package in the same run, interleaved with this one so
that both see the same machine: a git revision (`--baseline HEAD`) or a directory holding a copy
of src/signals/sentiment.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signals.sentiment import Classifier
from signals.sentiment.lexicon import FOLD
from signals.sentiment.tally import Scan, has_caps_word, tally

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "tests" / "sentiment" / "data" / "dev.jsonl"
BASELINE_PACKAGE = "baseline_sentiment"

SENTENCES = [
    "Thanks so much, that fixed it!",
    "I've been on hold for 40 minutes and nobody is picking up.",
    "Could you move my appointment to Thursday afternoon?",
    "I'm not sure what the 'pending' status on my transfer means.",
    "this is the third time the deploy has failed today and I'm losing my mind",
    "What's the baggage allowance for a domestic flight?",
    "Hmm, should I use a list or a dict here?",
    "Kill the zombie processes on the build server.",
    "Great, the dashboard loads instantly now.",
    "My card was declined at the pharmacy and I really need this medication tonight.",
    "not bad at all, the new layout is way easier to use",
    "Sorry if this is a dumb question, but what's a routing number?",
    "Run the stress test against staging with 500 users.",
    "oh great, another 'unexpected error'. thanks.",
    "I don't really understand why my refund is smaller than the item price.",
    "Can you summarise this article in three bullet points?",
    "WHY IS THIS STILL BROKEN",
    "I appreciate the help, but I'm really stressed, the client is calling every hour.",
    "Please set my status to away for the afternoon.",
    "wait, did that cancel the whole order or just one item??",
    "Love the new dark mode \U0001f60d",
    "I'm so anxious about the biopsy results, can you check if they're in?",
    "The function should return a positive integer or raise ValueError.",
    "idk if this is a bug or if I'm using it wrong",
    "You explained that way better than my textbook, thank you!",
    "The package tracking number is 1Z999AA10123456784.",
    "I was nervous about switching banks but this went really smoothly.",
    "can u PLEASE stop telling me to restart my router",
    "Maybe I'm missing something, but where do I put the API key?",
    "I need a hotel near the convention center from March 3 to 6.",
    "yeah, \u201cinstant\u201d transfer. three days later. sure.",
    "Is the clinic open on public holidays?",
]


def messages(count: int, seed: int = 7) -> list[str]:
    pick = random.Random(seed).choice
    result = []
    for _ in range(count):
        text = pick(SENTENCES)
        while len(text) < 190:
            text += " " + pick(SENTENCES)
        result.append(text[:220])
    return result


def dev_messages(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def rate(function: Callable[[str], object], texts: list[str], clock: Callable[[], float]) -> float:
    started = clock()
    for text in texts:
        function(text)
    return len(texts) / (clock() - started)


def pin(cpu: int | None) -> str:
    if cpu is None:
        return "one thread"
    if not hasattr(os, "sched_setaffinity"):
        return "one thread, not pinned (no sched_setaffinity here)"
    os.sched_setaffinity(0, {cpu})
    return f"one thread pinned to CPU {cpu}"


def load_baseline(source: str) -> tuple[Path, Callable[[], Any]]:
    """Another version of the package, importable beside this one as `baseline_sentiment`."""
    root = Path(tempfile.mkdtemp(prefix="sentiment-baseline-"))
    package = root / BASELINE_PACKAGE
    if Path(source).is_dir():
        shutil.copytree(source, package)
    else:
        archive = subprocess.run(
            ["git", "archive", source, "src/signals/sentiment"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        shutil.move(root / "src" / "signals" / "sentiment", package)
    for module in package.glob("*.py"):
        module.write_text(module.read_text().replace("signals.sentiment", BASELINE_PACKAGE))
    sys.path.insert(0, str(root))
    classifier: Callable[[], Any] = importlib.import_module(BASELINE_PACKAGE).Classifier
    return root, classifier


def cold_construction(package: str, path: Path | None = None) -> float:
    """Seconds to build the first Classifier in a fresh process (imports excluded)."""
    script = (
        f"import time; from {package} import Classifier; started = time.perf_counter(); "
        "Classifier(); print(time.perf_counter() - started)"
    )
    environ = dict(os.environ)
    if path is not None:
        paths = [str(path), environ.get("PYTHONPATH", "")]
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environ
    )
    return float(done.stdout)


def warm_construction(classifier: Callable[[], Any]) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        classifier()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def phases(classifier: Classifier, texts: list[str], repeat: int) -> dict[str, float]:
    """CPU seconds per message spent in each phase of classify, from pipelines cut after each.

    The stages mirror Classifier.classify: fold (whitespace, lower case, quotes), scan (the
    lexicon automaton and the "?" and "!!" marks), rules (the tally), verdict (label and cues).
    """
    table, rules, spans_of = classifier._table, classifier._rules, classifier._spans

    def fold(text: str) -> tuple[str, str, str]:
        if "  " in text or "\n" in text or "\t" in text or "\r" in text:
            text = " ".join(text.split())
        lowered = text.lower()
        if not lowered.isascii():
            for curly, straight in FOLD:
                lowered = lowered.replace(curly, straight)
        return text, lowered, " " + lowered

    def scan(text: str) -> object:
        return spans_of(fold(text)[2])

    def rules_only(text: str) -> object:
        text, lowered, padded = fold(text)
        caps = len(lowered) == len(text) and lowered != text and has_caps_word(text)
        return tally(Scan(padded, " " + text if caps else "", table, rules), spans_of(padded))

    stages = {"fold": fold, "scan": scan, "rules": rules_only, "verdict": classifier.classify}
    runs: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(repeat):
        for name, stage in stages.items():
            runs[name].append(1 / rate(stage, texts, time.thread_time))
    cumulative = 0.0
    shares = {}
    for name, times in runs.items():
        upto = statistics.median(times)  # seconds per message for the stages so far
        shares[name] = max(upto - cumulative, 0.0)
        cumulative = max(cumulative, upto)
    return shares


def compare(
    label: str, texts: list[str], current: Callable[[str], object], runs: int, other: Any
) -> None:
    cpu_rates, wall_rates, split_rates, other_rates = [], [], [], []
    for _ in range(runs):
        cpu_rates.append(rate(current, texts, time.thread_time))
        wall_rates.append(rate(current, texts, time.perf_counter))
        split_rates.append(rate(str.split, texts, time.thread_time))
        if other is not None:
            other_rates.append(rate(other, texts, time.thread_time))
    cpu, split = statistics.median(cpu_rates), statistics.median(split_rates)
    wall = statistics.median(wall_rates)
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"{label}: {len(texts)} messages, mean length {mean_chars:.0f} characters")
    print(f"  classify, CPU time        median {cpu:,.0f}/s  best {max(cpu_rates):,.0f}/s")
    print(f"  classify, wall time       median {wall:,.0f}/s  best {max(wall_rates):,.0f}/s")
    print(f"  per message               {1e6 / cpu:.1f} us")
    print(f"  str.split, for scale      median {split:,.0f}/s ({split / cpu:.0f}x classify)")
    if other_rates:
        base = statistics.median(other_rates)
        print(
            f"  baseline, CPU time        median {base:,.0f}/s ({1e6 / base:.1f} us);"
            f" this version is {cpu / base:.2f}x as fast"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    parser.add_argument("--dev", type=Path, default=DEV, help="labelled JSON Lines to time too")
    parser.add_argument("--baseline", default=None, help="git revision or package directory")
    args = parser.parse_args()
    pinned = pin(args.cpu)
    texts, dev = messages(args.messages), dev_messages(args.dev)
    started = time.perf_counter()
    classifier = Classifier()
    first = time.perf_counter() - started
    baseline_root, baseline = None, None
    if args.baseline is not None:
        baseline_root, baseline_class = load_baseline(args.baseline)
        baseline = baseline_class().classify
    for text in texts[:200] + dev:  # warm up
        classifier.classify(text)
        if baseline is not None:
            baseline(text)
    print(f"sentiment classifier, {pinned}, {args.runs} runs")
    print("construction (lexicon load and pattern compile)")
    print(f"  first in this process     {first * 1000:.0f} ms")
    cold = cold_construction("signals.sentiment")
    print(f"  cold, fresh process       {cold * 1000:.0f} ms")
    print(f"  warm, same process        {warm_construction(Classifier) * 1000:.2f} ms")
    if baseline_root is not None:
        old_cold = cold_construction(BASELINE_PACKAGE, baseline_root)
        old_warm = warm_construction(baseline_class)
        print(f"  baseline cold, warm       {old_cold * 1000:.0f} ms, {old_warm * 1000:.2f} ms")
    compare("~200-character messages", texts, classifier.classify, args.runs, baseline)
    if dev:
        compare("dev-set messages", dev * 5, classifier.classify, args.runs, baseline)
    shares = phases(classifier, texts, args.runs)
    total = sum(shares.values())
    print("share of classify time per phase, ~200-character messages")
    for name, seconds in shares.items():
        print(f"  {name:<9} {seconds / total:6.1%}  {seconds * 1e6:5.1f} us")


if __name__ == "__main__":
    main()
