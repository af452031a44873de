"""How many messages per second the sentiment classifier labels on one core.

    python benchmarks/bench_sentiment.py [--runs 7] [--messages 2000] [--cpu N]

Builds realistic ~200-character messages (sentences users write to support bots, coding
assistants, banking, travel and health bots, joined until about 200 characters) and times
`Classifier.classify` over all of them in one thread, several times (`--cpu` pins the process
to one CPU where the OS allows it). Prints the median and best rate, in CPU time (what the
classifier costs; other processes on a shared machine do not count) and in wall time. For
scale it also prints the rate of `str.split` over the same messages: on a busy or slow machine
both figures drop together, so their ratio is the steadier number.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable

from signals.sentiment import Classifier

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = parser.parse_args()
    pinned = pin(args.cpu)
    texts = messages(args.messages)
    started = time.perf_counter()
    classifier = Classifier()
    built = time.perf_counter() - started
    for text in texts[:200]:  # warm up
        classifier.classify(text)
    cpu_rates, wall_rates, split_rates = [], [], []
    for _ in range(args.runs):
        cpu_rates.append(rate(classifier.classify, texts, time.thread_time))
        wall_rates.append(rate(classifier.classify, texts, time.perf_counter))
        split_rates.append(rate(str.split, texts, time.thread_time))
    mean_chars = sum(map(len, texts)) / len(texts)
    cpu, split = statistics.median(cpu_rates), statistics.median(split_rates)
    print(f"sentiment classifier, {pinned}, {args.runs} runs of {len(texts)} messages")
    print(f"  mean message length       {mean_chars:.0f} characters")
    print(f"  classifier construction   {built * 1000:.0f} ms (lexicon load and regex compile)")
    print(f"  classify, CPU time        median {cpu:,.0f}/s  best {max(cpu_rates):,.0f}/s")
    wall = statistics.median(wall_rates)
    print(f"  classify, wall time       median {wall:,.0f}/s  best {max(wall_rates):,.0f}/s")
    print(f"  per message               {1e6 / cpu:.1f} us")
    print(f"  str.split, for scale      median {split:,.0f}/s ({split / cpu:.0f}x classify)")


if __name__ == "__main__":
    main()
