"""Means with Student-t 95% confidence intervals, differences paired by seed, and how n is said.

With n >= 2 values the interval is mean ± t_{0.975, n-1} s / sqrt(n); with n = 1 there is no
interval (NaN), and the text says n=1. A difference to the baseline is taken per seed (the arm
and the baseline share a seed's data order and initialisation), then averaged the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# t_{0.975, df} for df = 1..30 (two-sided 95%); larger df use the Cornish-Fisher expansion.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"t975(df={df}): needs df >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    return z + g1 / df + g2 / df**2


@dataclass(frozen=True)
class Estimate:
    """A mean over n values with its 95% CI half-width (NaN when n < 2)."""

    mean: float
    ci: float
    n: int

    def text(self, digits: int = 2, unit: str = "") -> str:
        """'89.12 ± 0.40% (n=3)', or '89.12% (n=1)' without an interval."""
        if self.n == 0 or math.isnan(self.mean):
            return "n/a (n=0)"
        body = f"{self.mean:.{digits}f}"
        if not math.isnan(self.ci):
            body += f" ± {self.ci:.{digits}f}"
        return f"{body}{unit} (n={self.n})"


def mean_ci(values) -> Estimate:
    """Mean and Student-t 95% CI half-width of the finite values."""
    x = np.asarray(pd.Series(values, dtype=float).dropna(), dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, 0)
    if n == 1:
        return Estimate(float(x[0]), math.nan, 1)
    return Estimate(float(x.mean()), t975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n), n)


def paired_difference(arm: pd.DataFrame, base: pd.DataFrame, column: str) -> Estimate:
    """Mean (arm - baseline) of `column` over the seeds both have, with its 95% CI.

    Each frame has one row per seed (`seed`, `column`); seeds present in one only are left out.
    """
    a = arm.groupby("seed")[column].mean()
    b = base.groupby("seed")[column].mean()
    diff = (a - b).dropna()
    return mean_ci(diff)


def count(n: int, noun: str) -> str:
    """'1 seed', '3 seeds', '0 trials': never '1 seeds'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
