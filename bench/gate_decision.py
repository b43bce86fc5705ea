"""Gate decision cost: a precomputed Grants look-up against a raw casbin enforce() per call, same run.

    python bench/gate_decision.py [--lookups 1000000] [--enforces 2000] [--repeats 7]

Requests cycle over every known category × action for a handful of (role, purpose) pairs, so both sides
answer the same mix of allows and denies. Each round makes `--lookups` Grants.allows calls and `--enforces`
casbin calls (a fixed count each, so a round takes well under a second on both sides); the rounds are
interleaved so load on the machine hits both alike. Figures: median and spread (min–max) of calls per second
over the rounds, and the ratio of the medians. Both sides do the same work per call (take the next request
from a cycle, unpack it, decide); the only difference is the thing measured, how the decision is made.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ helpers; policies without `pip install -e .`

from bench._rounds import interleaved, repeated  # noqa: E402
from bench._stats import rates  # noqa: E402
from policies.gate import ACTIONS, POLICY_DIR, PolicyGate  # noqa: E402

PAIRS = [
    ("support_agent", "support"),
    ("marketing_tool", "marketing.email"),
    ("analyst", "analytics"),
    ("frontend_app", "order_fulfillment"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=1_000_000, help="Grants.allows calls per round")
    parser.add_argument("--enforces", type=int, default=2_000, help="casbin enforce calls per round")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    gate = PolicyGate()
    requests = [
        (role, purpose, category, action)
        for role, purpose in PAIRS
        for category in sorted(gate.categories)
        for action in ACTIONS
    ]
    grants = {pair: gate.grants(*pair) for pair in PAIRS}

    lookups = itertools.cycle([(grants[(r, p)], a, c) for r, p, c, a in requests])
    enforces = itertools.cycle(requests)

    def lookup() -> bool:
        g, action, category = next(lookups)
        return g.allows(action, category)

    def enforce() -> bool:
        return gate.enforce(*next(enforces))

    seconds = interleaved(
        {"lookup": repeated(lookup, args.lookups), "enforce": repeated(enforce, args.enforces)}, args.repeats
    )
    cached, raw = rates(args.lookups, seconds["lookup"].values), rates(args.enforces, seconds["enforce"].values)
    rules = sum(line.startswith("p,") for line in (POLICY_DIR / "policy.csv").read_text().splitlines())
    print(f"policy: {rules} rules, {len(gate.categories)} categories, {len(requests)} distinct requests")
    print(f"{args.repeats} interleaved rounds; calls/s, median (min–max, n)")
    print(f"Grants.allows (dict look-up): {cached.show(digits=0)}  ({1e6 / cached.median:.3f} µs/op)")
    print(f"casbin enforce (baseline):    {raw.show(digits=0)}  ({1e6 / raw.median:.1f} µs/op)")
    print(f"ratio (medians): Grants.allows is {cached.median / raw.median:,.0f}x faster")


if __name__ == "__main__":
    main()
