"""Gate decision cost: a precomputed Grants look-up against a raw casbin enforce() per call, same run.

    python bench/gate_decision.py [seconds-per-measurement]

Requests cycle over every known category × action for a handful of (role, purpose) pairs, so both sides
answer the same mix of allows and denies.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

try:
    from policies.gate import ACTIONS, POLICY_DIR, PolicyGate
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from policies.gate import ACTIONS, POLICY_DIR, PolicyGate

PAIRS = [
    ("support_agent", "support"),
    ("marketing_tool", "marketing.email"),
    ("analyst", "analytics"),
    ("frontend_app", "order_fulfillment"),
]


def ops_per_second(call: Callable[[], object], seconds: float) -> float:
    """Calls per second, timed in batches so the clock is not what is measured."""
    batch, calls, start = 1000, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            call()
        calls += batch
    return calls / elapsed


def main(seconds: float) -> None:
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

    cached = ops_per_second(lookup, seconds)
    raw = ops_per_second(enforce, seconds)
    rules = sum(line.startswith("p,") for line in (POLICY_DIR / "policy.csv").read_text().splitlines())
    print(f"policy: {rules} rules, {len(gate.categories)} categories, {len(requests)} distinct requests")
    print(f"Grants.allows (dict look-up): {cached:12,.0f} ops/s  ({1e6 / cached:8.3f} µs/op)")
    print(f"casbin enforce:               {raw:12,.0f} ops/s  ({1e6 / raw:8.3f} µs/op)")
    print(f"ratio: Grants.allows is {cached / raw:,.0f}x faster")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
