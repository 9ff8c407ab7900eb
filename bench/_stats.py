"""Order statistics the benchmarks print, named for what they are.

A p99 of 10 samples is the largest of the 10, and calling it p99 suggests a tail that
was never measured; so a quantile whose nearest rank is the last sample is printed as
"max", with the sample count beside it.
"""

from __future__ import annotations

import math

__all__ = ["quantile", "tail"]


def quantile(samples: list[float], fraction: float) -> float:
    """The nearest-rank ``fraction`` quantile of ``samples`` (not interpolated); NaN when empty."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def tail(samples: list[float], fraction: float) -> tuple[str, float]:
    """``("p99", value)``, or ``("max", value)`` when there are too few samples to tell the two apart."""
    rank = max(0, math.ceil(fraction * len(samples)) - 1)
    label = "max" if rank >= len(samples) - 1 else f"p{fraction * 100:g}"
    return label, quantile(samples, fraction)
