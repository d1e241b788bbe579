"""How long METEOR 1.5's jar takes for one pair of texts as they grow: the reason for the length
limit of mtlbench.metrics.text (texts are cut at MAX_WORDS words before any metric).

Both texts are drawn from a 14-word radiology vocabulary (many repeated words: the alignment
search's bad case, as in a runaway generation). Requests go to the jar directly, past the cut.

    .venv/bin/python benchmarks/reliability_meteor_length.py
    .venv/bin/python benchmarks/reliability_meteor_length.py --words 250,500,1000,1500,2000
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import time

from mtlbench.metrics import meteor as meteor_module

VOCABULARY = ["the", "heart", "is", "normal", "size", "no", "effusion", "pneumothorax", "lungs", "are", "clear",
              "mild", "cardiomegaly", "."]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", default="250,500,1000,1500,2000", help="text lengths to time (words, both texts)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    rng = random.Random(args.seed)
    scorer = meteor_module._Meteor()
    started = time.perf_counter()
    scorer._send("SCORE ||| the heart is normal . ||| the heart is normal .")
    scorer._numbers(meteor_module.STATS_WIDTH)
    print(f"JVM start and first answer: {time.perf_counter() - started:.1f} s")
    print("\n| words per text | seconds for one pair |\n|---:|---:|")
    for words in (int(w) for w in args.words.split(",")):
        reference = " ".join(rng.choice(VOCABULARY) for _ in range(words))
        hypothesis = " ".join(rng.choice(VOCABULARY) for _ in range(words))
        started = time.perf_counter()
        scorer._send(f"SCORE ||| {reference} ||| {hypothesis}")
        scorer._numbers(meteor_module.STATS_WIDTH)
        print(f"| {words} | {time.perf_counter() - started:.2f} |", flush=True)
    scorer.close()
    print("\nuptime after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"(cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
