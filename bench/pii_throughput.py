"""Analyzer throughput on 1,000 short ticket texts: batch vs one by one, against a plain-regex floor.

    python bench/pii_throughput.py [--texts N] [--repeats R]

Texts come from the eval corpus generator (bench/pii_eval.py, seed 7). After a warm-up, every measurement
runs once per round, R rounds interleaved (so load on the machine hits all of them alike), on one thread;
each figure is the median with its spread (min–max), and every ratio is taken from medians.

What is compared with what:
* `analyze_batch()` against `analyze()` one by one: the same analysis minus batching.
* the phone recognizer with all regions against it with one region (US): the same recognizer minus the other
  regions, which gives the cost of one more region.
* the phone recognizer alone against `analyze_batch()`: its share of the whole.
* a floor, not a like-for-like baseline: one compiled `re` email search over the same texts, the cheapest
  detector imaginable, so the ratio says what full analysis costs on top of a single regex.
(Earlier versions printed the best of R runs; the median is what a reader should expect.)
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from pii_eval import make_corpus  # noqa: E402

from bench._rounds import interleaved  # noqa: E402
from bench._stats import rates  # noqa: E402
from cdp.pii import analyze, analyze_batch  # noqa: E402
from cdp.pii.analyzer import LANGUAGE, get_analyzer  # noqa: E402
from cdp.pii.recognizers import PHONE_REGIONS, RegionalPhoneRecognizer  # noqa: E402

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
ALL_REGIONS = f"phone recognizer alone, {len(PHONE_REGIONS)} regions"
ONE_REGION = "phone recognizer alone, 1 region (US)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    corpus = make_corpus(per_language=args.texts // 7 + 1)
    texts = [text for text, _ in corpus][: args.texts]
    n = len(texts)
    print(f"{n} texts, mean {sum(map(len, texts)) / n:.0f} chars, {args.repeats} interleaved rounds")

    started = time.perf_counter()
    get_analyzer()
    print(f"analyzer build (once per process, one run): {time.perf_counter() - started:.2f} s")
    analyze_batch(texts[:100])  # warm-up: lazy regex compilation

    phone = next(r for r in get_analyzer().registry.recognizers if r.supported_entities == ["PHONE_NUMBER"])
    one_region = RegionalPhoneRecognizer(LANGUAGE, regions=("US",))
    seconds = interleaved(
        {
            "floor: re email search": lambda: [EMAIL.findall(t) for t in texts],
            "analyze() one by one": lambda: [analyze(t) for t in texts],
            "analyze_batch()": lambda: analyze_batch(texts),
            ALL_REGIONS: lambda: [phone.analyze(t, ["PHONE_NUMBER"]) for t in texts],
            ONE_REGION: lambda: [one_region.analyze(t, ["PHONE_NUMBER"]) for t in texts],
        },
        args.repeats,
    )

    print(f"\n{'':<42}{'texts/s, median (min–max, n)':>36}{'ms/text':>10}")
    for name, spread in seconds.items():
        print(f"{name:<42}{rates(n, spread.values).show(digits=0):>36}{1000 * spread.median / n:>10.3f}")
    floor, single, batch = (seconds[k].median for k in ("floor: re email search", "analyze() one by one",
                                                         "analyze_batch()"))  # fmt: skip
    phone_time, one_region_time = seconds[ALL_REGIONS].median, seconds[ONE_REGION].median
    print(f"\nbatch / one-by-one speed-up: {single / batch:.2f}x")
    print(f"analyzer (batch) vs the regex floor: {batch / floor:.0f}x slower")
    print(f"phone recognizer share of batch time: {phone_time / batch:.0%}")
    extra = (phone_time - one_region_time) / (len(PHONE_REGIONS) - 1)
    print(f"cost of one more phone region: {1000 * extra / n:.3f} ms/text ({extra / batch:.0%} of batch time)")


if __name__ == "__main__":
    main()
