"""Means with Student-t 95% confidence intervals, differences paired by seed, and how n is said.

With n >= 2 values the interval is mean ± t_{0.975, n-1} s / sqrt(n); with n = 1 there is no
interval (NaN), and the text says n=1. Every comparison of two arms is a difference taken per
seed (the arms share a seed's data order and initialisation) over the seeds both have, then
averaged the same way (`paired`); it is said by `comparison`: with its CI and n, "no difference
detected at n=N" where the CI includes 0 (or n=1 gives none), and "incomplete" where either arm
lacks a seed the other has.
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
    return paired(arm, base, column).estimate


@dataclass(frozen=True)
class Paired:
    """A difference a - b paired by seed over the seeds both have (`estimate`, its n the shared
    seeds), and the seeds only one of them has: where either is non-empty the pair is
    incomplete."""

    estimate: Estimate
    only_a: tuple[int, ...] = ()
    only_b: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.only_a and not self.only_b

    @property
    def detected(self) -> bool:
        """Whether the 95% CI excludes 0 (never with n < 2: one seed has no interval)."""
        e = self.estimate
        return e.n >= 2 and not math.isnan(e.ci) and abs(e.mean) > e.ci


def paired(a: pd.DataFrame, b: pd.DataFrame, column: str) -> Paired:
    """a - b of `column` paired by `seed` (rows with a NaN value count as missing seeds)."""
    x = a.dropna(subset=[column]).groupby("seed")[column].mean()
    y = b.dropna(subset=[column]).groupby("seed")[column].mean()
    shared = x.index.intersection(y.index)
    return Paired(
        mean_ci(x[shared] - y[shared]),
        tuple(int(s) for s in x.index.difference(y.index)),
        tuple(int(s) for s in y.index.difference(x.index)),
    )


def verdict(p: Paired, unit: str = "pp") -> str:
    """How a paired difference is said: '+0.31 ± 1.05 pp (95% CI, n=3): no difference detected
    at n=3' where the CI includes 0 or cannot be had (n=1), the estimate with its CI where it
    excludes 0; never a direction without an interval that excludes 0."""
    e, u = p.estimate, f" {unit}" if unit else ""
    if e.n == 0 or math.isnan(e.mean):
        return "not defined: no seed in common"
    if e.n == 1:
        body = f"{e.mean:+.2f}{u} (n=1, no CI)"
    else:
        body = f"{e.mean:+.2f} ± {e.ci:.2f}{u} (95% CI, n={e.n})"
    return body if p.detected else f"{body}: no difference detected at n={e.n}"


def incompleteness(p: Paired, a: str, b: str) -> str:
    """'' for a complete pair, else '; incomplete: rotated lacks seed 2' (both sides named)."""
    parts = [
        f"{name} lacks {'seed' if len(seeds) == 1 else 'seeds'} {', '.join(map(str, seeds))}"
        for name, seeds in ((a, p.only_b), (b, p.only_a))
        if seeds
    ]
    return "; incomplete: " + ", ".join(parts) if parts else ""


def comparison(p: Paired, a: str, b: str, unit: str = "pp") -> str:
    """'a − b: <verdict>[; incomplete: ...]', the one way a comparison is written."""
    return f"{a} − {b}: {verdict(p, unit)}{incompleteness(p, a, b)}"


def count(n: int, noun: str) -> str:
    """'1 seed', '3 seeds', '0 trials': never '1 seeds'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
