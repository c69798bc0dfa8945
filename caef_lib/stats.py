"""Confidence intervals for the accuracies every notebook reports."""
from __future__ import annotations

import math


def wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of `correct` successes in `n` trials (95 % by default); (nan, nan) for n = 0.
    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 % and 100 %."""
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= correct <= n:
        raise ValueError(f"wilson: {correct} successes in {n} trials")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if correct == 0 else low), (1.0 if correct == n else high)  # exact at the ends


def accuracy_row(correct: int, n: int) -> dict:
    """{"n", "correct", "accuracy", "ci_low", "ci_high"} of one table cell."""
    low, high = wilson(correct, n)
    return {"n": int(n), "correct": int(correct), "accuracy": correct / n if n else float("nan"),
            "ci_low": low, "ci_high": high}
