"""Interleaved repeats: each round runs every measurement once, in turn, so a burst of load on the shared
machine hits a measurement and its baseline alike instead of whichever happened to run during it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bench._stats import Spread, timed


def interleaved(runs: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, Spread]:
    """Wall times in seconds of `repeats` rounds; each round calls every run once, in the mapping's order."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].extend(timed(run, 1).values)
    return {name: Spread(tuple(values)) for name, values in times.items()}


def repeated(call: Callable[[], object], count: int) -> Callable[[], None]:
    """`call` made `count` times in a row: one timed run of a step too short to time alone."""

    def run() -> None:
        for _ in range(count):
            call()

    return run
