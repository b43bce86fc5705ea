"""Repeated measurements: every benchmark reports the median of several runs and their spread, never one run
or the best one (these machines are noisy)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Figures of repeated runs of one measurement, in its own unit (seconds, events/s, ...)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def quantile(self, q: float) -> float:
        """The q-quantile (0 < q < 1), nearest rank: p95 of a latency sample is quantile(0.95)."""
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    def show(self, scale: float = 1.0, digits: int = 2) -> str:
        """`median (min–max, n runs)`, each value multiplied by `scale` (1000 for ms)."""
        return (
            f"{self.median * scale:.{digits}f} ({self.low * scale:.{digits}f}–{self.high * scale:.{digits}f},"
            f" n={len(self.values)})"
        )


def timed(run: Callable[[], object], repeats: int) -> Spread:
    """Wall time in seconds of `repeats` calls of `run`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return Spread(tuple(times))


def rates(count: int, seconds: Sequence[float]) -> Spread:
    """Throughput (count per second) of each timed run."""
    return Spread(tuple(count / s for s in seconds))
