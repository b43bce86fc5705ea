"""PII analysis time against the size of one text: linear since overlap resolution is sort-and-sweep.

    python bench/pii_size.py [--repeat R] [--sizes 1000,2000,...]

The text is the red team's: repeated phone-number sentences, as dense in findings as free text gets (one
number every ~25 characters). For each size it prints the median of R runs of `analyze` (the whole analysis),
its cost per 1,000 characters and the ratio of that cost to the smallest size's (1.0 = linear). It also times
overlap resolution alone on the same findings: `_resolve` against the pairwise check it replaced (the
baseline, in this run), whose cost grew with the square of the findings. The default CDP_MAX_TEXT_CHARS
(20,000) bounds what one value can cost; sizes above it show the trend only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from cdp.pii import analyzer  # noqa: E402
from cdp.settings import Settings  # noqa: E402

SENTENCE = "Please call me at +1 415 555 0123 or 13812345678, thanks. "


def median_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def pairwise(text: str, results: list) -> list:  # noqa: ANN001 - presidio RecognizerResults
    """The resolution this replaced: every candidate checked against every kept span."""
    technical = [m.span() for m in analyzer._TECHNICAL.finditer(text)]
    ranked = sorted(
        (r for r in results if not any(s <= r.start and r.end <= e for s, e in technical)),
        key=lambda r: (-(r.end - r.start), analyzer._RANK.get(r.entity_type, 99), -r.score),
    )
    kept: list = []
    for r in ranked:
        if all(r.end <= k.start or k.end <= r.start for k in kept):
            kept.append(r)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="1000,2500,5000,10000,20000,40000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    engine = analyzer.get_analyzer()
    analyzer.analyze(SENTENCE)  # warm-up: lazy regex compilation
    print(f"limit per value: CDP_MAX_TEXT_CHARS = {Settings().max_text_chars} characters; median of {args.repeat}")
    print(f"{'chars':>7} {'findings':>8} {'analyze s':>10} {'ms/1k chars':>11} {'ratio':>6}"
          f" {'resolve ms':>10} {'pairwise ms':>11}")  # fmt: skip
    base_per_k = None
    for size in sizes:
        text = (SENTENCE * (size // len(SENTENCE) + 1))[:size]
        total = median_of(args.repeat, partial(analyzer.analyze, text))
        results = engine.analyze(text=text, language=analyzer.LANGUAGE, score_threshold=0.5)
        findings = len(analyzer._resolve(text, results))
        resolve = median_of(args.repeat, partial(analyzer._resolve, text, results))
        old = median_of(args.repeat, partial(pairwise, text, results))
        per_k = total / size * 1000
        base_per_k = base_per_k or per_k
        print(f"{size:>7} {findings:>8} {total:>10.3f} {per_k * 1000:>11.1f} {per_k / base_per_k:>6.2f}"
              f" {resolve * 1000:>10.2f} {old * 1000:>11.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
