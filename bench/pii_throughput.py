"""Analyzer throughput on 1,000 short ticket texts: batch vs one by one, against a plain-regex baseline.

    python bench/pii_throughput.py [--texts N] [--repeat R]

Texts come from the eval corpus generator (bench/pii_eval.py, seed 7). Each figure is the best of R runs
after a warm-up, on one thread. The baseline is one compiled `re` email search over the same texts: the
cheapest detector imaginable, so the ratio says what full analysis costs on top of a single regex. The
phone recognizer dominates the cost, so its share and its cost per region are measured too.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from pii_eval import make_corpus  # noqa: E402

from cdp.pii import analyze, analyze_batch  # noqa: E402
from cdp.pii.analyzer import LANGUAGE, get_analyzer  # noqa: E402

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    corpus = make_corpus(per_language=args.texts // 7 + 1)
    texts = [text for text, _ in corpus][: args.texts]
    n = len(texts)
    print(f"{n} texts, mean {sum(map(len, texts)) / n:.0f} chars, best of {args.repeat} runs")

    started = time.perf_counter()
    get_analyzer()
    print(f"analyzer build (once per process): {time.perf_counter() - started:.2f} s")
    analyze_batch(texts[:100])  # warm-up: lazy regex compilation

    baseline = best_of(args.repeat, lambda: [EMAIL.findall(t) for t in texts])
    single = best_of(args.repeat, lambda: [analyze(t) for t in texts])
    batch = best_of(args.repeat, lambda: analyze_batch(texts))

    phone = next(r for r in get_analyzer().registry.recognizers if r.supported_entities == ["PHONE_NUMBER"])
    phone_time = best_of(args.repeat, lambda: [phone.analyze(t, ["PHONE_NUMBER"]) for t in texts])

    from cdp.pii.recognizers import PHONE_REGIONS, RegionalPhoneRecognizer

    one_region = RegionalPhoneRecognizer(LANGUAGE, regions=("US",))
    one_region_time = best_of(args.repeat, lambda: [one_region.analyze(t, ["PHONE_NUMBER"]) for t in texts])

    rows = [
        ("baseline: re email search", baseline),
        ("analyze() one by one", single),
        ("analyze_batch()", batch),
        (f"phone recognizer alone, {len(PHONE_REGIONS)} regions", phone_time),
        ("phone recognizer alone, 1 region (US)", one_region_time),
    ]
    print(f"\n{'':<42}{'texts/s':>10}{'ms/text':>10}")
    for name, seconds in rows:
        print(f"{name:<42}{n / seconds:>10.0f}{1000 * seconds / n:>10.3f}")
    print(f"\nbatch / one-by-one speed-up: {single / batch:.2f}x")
    print(f"analyzer (batch) vs baseline: {batch / baseline:.0f}x slower")
    print(f"phone recognizer share of batch time: {phone_time / batch:.0%}")
    extra = (phone_time - one_region_time) / (len(PHONE_REGIONS) - 1)
    print(f"cost of one more phone region: {1000 * extra / n:.3f} ms/text ({extra / batch:.0%} of batch time)")


if __name__ == "__main__":
    main()
