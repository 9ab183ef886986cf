"""Paired benchmark runs: the spread of per-pair ratios, and when enough pairs have been taken.

A paired benchmark runs two sides next to each other in time (raw, app, raw, app, ...) and divides each pair, so
that the machine's slow drift cancels out of each ratio. On a noisy machine single ratios still scatter by several
per cent; the median of the ratios is only worth quoting when their quartiles sit close to it. These functions are
pure: they take the ratios and return figures, so they are tested without an engine or a clock.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SPREAD_TARGET = 0.03  # quartiles within ±3 % of the median
MIN_PAIRS_FOR_SPREAD = 4  # fewer ratios have no meaningful quartiles: the target never counts as reached
_EPS = 1e-9  # a spread of exactly the target, computed in floating point, still counts as within it


def pair_ratios(top: Sequence[float], bottom: Sequence[float]) -> list[float]:
    """top[i] / bottom[i] for each pair, leaving out pairs whose bottom is not positive (a failed run)."""
    return [t / b for t, b in zip(top, bottom, strict=False) if b > 0]


@dataclass(frozen=True)
class PairSpread:
    """Five-number summary of the per-pair ratios, with the quartiles' distance from the median."""

    pairs: int
    min: float
    q1: float
    median: float
    q3: float
    max: float
    target: float = SPREAD_TARGET

    @property
    def below(self) -> float:
        """(median - q1) / median: how far the lower quartile sits under the median, as a fraction."""
        return (self.median - self.q1) / self.median if self.median else 0.0

    @property
    def above(self) -> float:
        """(q3 - median) / median: how far the upper quartile sits over the median, as a fraction."""
        return (self.q3 - self.median) / self.median if self.median else 0.0

    @property
    def reached(self) -> bool:
        """Both quartiles within `target` of the median, over at least MIN_PAIRS_FOR_SPREAD pairs."""
        return (
            self.pairs >= MIN_PAIRS_FOR_SPREAD
            and self.median > 0
            and self.below <= self.target + _EPS
            and self.above <= self.target + _EPS
        )

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        """JSON keys: pair_ratio_min/_q1/_median/_q3/_max, pairs, spread_target/_below/_above/_reached."""
        return {
            "pair_ratio_min": round(self.min, digits),
            "pair_ratio_q1": round(self.q1, digits),
            "pair_ratio_median": round(self.median, digits),
            "pair_ratio_q3": round(self.q3, digits),
            "pair_ratio_max": round(self.max, digits),
            "pairs": self.pairs,
            "spread_target": self.target,
            "spread_below": round(self.below, digits),
            "spread_above": round(self.above, digits),
            "spread_reached": self.reached,
        }

    def summary(self) -> str:
        """'0.9860 (min 0.9310, q1 0.9720, q3 1.0040, max 1.0410; 9 pairs)': the median with its spread."""
        return (
            f"{self.median:.4f} (min {self.min:.4f}, q1 {self.q1:.4f}, q3 {self.q3:.4f}, max {self.max:.4f}; "
            f"{_pairs(self.pairs)})"
        )

    def verdict(self, max_pairs: int | None = None) -> str:
        """One sentence: whether the quartiles came within the target, and if not, that the figure is not usable."""
        target = f"target ±{100 * self.target:g} %"
        if self.pairs < MIN_PAIRS_FOR_SPREAD:
            return (
                f"NOT reached: {_pairs(self.pairs)} are too few for quartiles (at least {MIN_PAIRS_FOR_SPREAD}; "
                f"{target}). The ratio is not trustworthy: take more pairs (--reps, --max-pairs)"
            )
        where = f"quartiles -{100 * self.below:.1f} % / +{100 * self.above:.1f} % of the median"
        if self.reached:
            return f"reached: {where} after {_pairs(self.pairs)} ({target})"
        limit = " (the --max-pairs limit)" if max_pairs is not None and self.pairs >= max_pairs else ""
        return (
            f"NOT reached after {_pairs(self.pairs)}{limit}: {where} ({target}). The ratio is not trustworthy this "
            "hour: the machine is too noisy; run it again when it is quieter"
        )


def _pairs(n: int) -> str:
    return f"{n} pair" if n == 1 else f"{n} pairs"


def pair_spread(ratios: Sequence[float], target: float = SPREAD_TARGET) -> PairSpread:
    """The spread of `ratios`; quartiles by statistics.quantiles(method="inclusive") (numpy's default 'linear')."""
    values = sorted(float(r) for r in ratios)
    if not values:
        return PairSpread(0, 0.0, 0.0, 0.0, 0.0, 0.0, target)
    median = statistics.median(values)
    if len(values) == 1:
        q1 = q3 = median
    else:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return PairSpread(len(values), values[0], q1, median, q3, values[-1], target)


def spread_reached(ratios: Sequence[float], target: float = SPREAD_TARGET) -> bool:
    """Whether the quartiles of `ratios` sit within `target` of their median (see PairSpread.reached)."""
    return pair_spread(ratios, target).reached


def need_more_pairs(ratios: Sequence[float], min_pairs: int, max_pairs: int, target: float = SPREAD_TARGET) -> bool:
    """The stopping rule: take another pair while fewer than `min_pairs` have been taken, or while the spread is
    wider than `target` and fewer than `max_pairs` have been taken (`max_pairs` wins over `min_pairs`)."""
    n = len(ratios)
    if n >= max_pairs:
        return False
    if n < min_pairs:
        return True
    return not spread_reached(ratios, target)
