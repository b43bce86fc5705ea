"""PII analysis time against the size of one text: linear since overlap resolution is sort-and-sweep.

    python bench/pii_size.py [--repeats R] [--sizes 1000,2000,...]

The text is the red team's: repeated phone-number sentences, as dense in findings as free text gets (one
number every ~25 characters). For each size, R interleaved rounds each time `analyze` (the whole analysis),
`_resolve` (overlap resolution alone, on the same findings) and the pairwise check it replaced, whose cost
grew with the square of the findings. Printed: medians with their spread (min–max over the rounds), the cost
of analysis per 1,000 characters and its ratio to the smallest size's (1.0 = linear), and pairwise/resolve
from medians. The pairwise check is the baseline for resolution: the same findings, the same technical-span
filter and ranking, only the overlap check done the old way. The default CDP_MAX_TEXT_CHARS (20,000) bounds
what one value can cost; sizes above it show the trend only.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from bench._rounds import interleaved  # noqa: E402
from cdp.pii import analyzer  # noqa: E402
from cdp.settings import Settings  # noqa: E402

SENTENCE = "Please call me at +1 415 555 0123 or 13812345678, thanks. "


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
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="1000,2500,5000,10000,20000,40000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    engine = analyzer.get_analyzer()
    analyzer.analyze(SENTENCE)  # warm-up: lazy regex compilation
    print(f"limit per value: CDP_MAX_TEXT_CHARS = {Settings().max_text_chars} characters;"
          f" median (min–max) of {args.repeats} interleaved rounds")  # fmt: skip
    print(f"{'chars':>7} {'findings':>8} {'analyze s':>26} {'ms/1k chars':>11} {'ratio':>6}"
          f" {'resolve ms':>24} {'pairwise ms':>26} {'pairwise/resolve':>16}")  # fmt: skip
    base_per_k = None
    for size in sizes:
        text = (SENTENCE * (size // len(SENTENCE) + 1))[:size]
        results = engine.analyze(text=text, language=analyzer.LANGUAGE, score_threshold=0.5)
        findings = len(analyzer._resolve(text, results))
        spreads = interleaved(
            {
                "analyze": partial(analyzer.analyze, text),
                "resolve": partial(analyzer._resolve, text, results),
                "pairwise": partial(pairwise, text, results),
            },
            args.repeats,
        )
        total, resolve, old = spreads["analyze"], spreads["resolve"], spreads["pairwise"]
        per_k = total.median / size * 1000
        base_per_k = base_per_k or per_k
        print(f"{size:>7} {findings:>8} {total.show(digits=3):>26} {per_k * 1000:>11.1f} {per_k / base_per_k:>6.2f}"
              f" {resolve.show(1000):>24} {old.show(1000):>26} {old.median / resolve.median:>16.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
