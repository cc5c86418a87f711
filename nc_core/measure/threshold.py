"""The threshold rule "NCC error <= eps", decided exactly, and the exact errors of a layers table.

An NCC error is a count: `wrong` of the `n` NC-sample points. It is within eps when
wrong <= eps * n in rational arithmetic, with eps read as the decimal it was written as
(`as_fraction(0.3)` is 3/10, where the binary float 0.3 is slightly less than 3/10, so that
1500 wrong of 5000 would fail against it). Every place that compares an NCC error with eps (the
policy, the effective depth, the studies, the figures) does it here.

Tables written since the counts were recorded carry `train_ncc_wrong` and `nc_n`. For older
tables the count is recovered from the stored accuracy (`ncc_errors`): with the NC sample size n
known from the row's config (`nc_sample_size`), wrong = round((1 - train_ncc_acc) * n); with n
unknown, the exact fraction correct / n is the fraction of denominator <= MAX_N nearest the
stored float (`Fraction.limit_denominator`), since a float64 quotient of two integers lies within
2^-53 of it while any other fraction of denominator <= MAX_N lies at least 1/MAX_N^2 away.
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Rational

import numpy as np
import pandas as pd

MAX_N = 10**7  # NC samples up to which a stored float accuracy gives back its exact fraction


def as_fraction(value: object) -> Fraction:
    """`value` as an exact fraction: a rational (Fraction, int) as is, a float as the decimal it
    prints as (`Fraction(repr(x))`: 0.1 is 1/10). ValueError for NaN or an infinity."""
    if isinstance(value, Rational) and not isinstance(value, bool):
        return Fraction(value)
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"as_fraction({value!r}): an NCC error or eps must be a finite number")
    return Fraction(repr(x))


def within(error: object, eps: object) -> bool:
    """Whether an NCC error (a Fraction wrong / n, or a decimal) is <= eps, exactly."""
    return as_fraction(error) <= as_fraction(eps)


def within_counts(wrong: int, n: int, eps: object) -> bool:
    """Whether `wrong` of `n` samples is an error <= eps: wrong <= eps * n, exactly."""
    if n < 1 or not 0 <= wrong <= n:
        raise ValueError(f"within_counts(wrong={wrong}, n={n}): expected 0 <= wrong <= n, n >= 1")
    return wrong <= as_fraction(eps) * n


def nc_sample_size(row: dict | pd.Series) -> int | None:
    """The NC sample size a run of this config measured on, or None where the config does not
    fix it. The loop takes `nc_samples` per class when that is below the smallest class of the
    (subset) train split, else the whole split; per-class sizes come from the dataset registry
    (`train_per_class`, the smallest class) and the row's `subset`."""
    from nc_core.data import DATASETS  # registers the built-in datasets; needed for old tables

    name = row.get("dataset")
    if name is None or name not in DATASETS:
        return None
    entry = DATASETS.get(name)
    K = row.get("num_classes")
    K = entry.num_classes if K is None or pd.isna(K) else int(K)
    if K is None:
        return None
    subset, nc = row.get("subset"), row.get("nc_samples")
    subset = None if subset is None or pd.isna(subset) else int(subset)
    nc = None if nc is None or pd.isna(nc) else int(nc)
    smallest = entry.train_per_class if subset is None else min(subset, entry.train_per_class)
    if nc is not None and nc < smallest:
        return K * nc
    if subset is not None and subset <= entry.train_per_class:
        return K * subset  # the whole subset: `subset` images of every class
    return None  # the whole train split: its class sizes are not in the config


def error_from_accuracy(acc: float, n: int | None) -> Fraction:
    """The exact error wrong / n behind a stored accuracy `acc` = (n - wrong) / n: by rounding
    (1 - acc) * n when n is known (checked to be within 1e-6 of an integer, else n is treated as
    unknown), else by the nearest fraction of denominator <= MAX_N."""
    if n is not None and n >= 1:
        wrong = (1.0 - acc) * n
        if abs(wrong - round(wrong)) < 1e-6:
            return Fraction(round(wrong), n)
    return 1 - Fraction(acc).limit_denominator(MAX_N)


def ncc_counts(layers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(wrong, n) of every row of a layers table, as int64 arrays: `train_ncc_wrong` and `nc_n`
    where the row has them, else recovered from `train_ncc_acc` (`error_from_accuracy`, with n
    from `nc_sample_size` of the row's config, looked up once per config and accuracy)."""
    N = len(layers)
    wrong = np.zeros(N, dtype=np.int64)
    n = np.ones(N, dtype=np.int64)
    has = [c in layers for c in ("train_ncc_wrong", "nc_n")]
    known = np.zeros(N, dtype=bool)
    if all(has):
        w, k = layers["train_ncc_wrong"], layers["nc_n"]
        known = (w.notna() & k.notna()).to_numpy()
        wrong[known] = w[known].astype("int64").to_numpy()
        n[known] = k[known].astype("int64").to_numpy()
    if known.all():
        return wrong, n
    rest = layers.iloc[np.flatnonzero(~known)]
    config = [c for c in ("dataset", "subset", "nc_samples", "num_classes") if c in rest]
    keys = (
        ["|".join(map(str, values)) for values in zip(*(rest[c] for c in config), strict=True)]
        if config
        else [""] * len(rest)
    )
    sizes: dict[str, int | None] = {}
    errors: dict[tuple, Fraction] = {}
    for pos, (j, key, acc) in enumerate(
        zip(np.flatnonzero(~known), keys, rest["train_ncc_acc"].astype(float), strict=True)
    ):
        if key not in sizes:  # one look-up per config
            sizes[key] = nc_sample_size(rest.iloc[pos][config])
        if (sizes[key], acc) not in errors:  # and one recovery per (n, accuracy)
            errors[(sizes[key], acc)] = error_from_accuracy(acc, sizes[key])
        e = errors[(sizes[key], acc)]
        wrong[j], n[j] = e.numerator, e.denominator
    return wrong, n


def within_eps(wrong: np.ndarray, n: np.ndarray, eps: object) -> np.ndarray:
    """Elementwise wrong <= eps * n, exactly: with eps = p / q (`as_fraction`), wrong * q <= p * n
    in int64 where that cannot overflow, else in Python integers."""
    e = as_fraction(eps)
    p, q = e.numerator, e.denominator
    big = max(int(wrong.max(initial=0)) * q, p * int(n.max(initial=0)))
    if big < 2**62:
        return wrong * q <= p * n
    return np.array([w * q <= p * k for w, k in zip(wrong.tolist(), n.tolist(), strict=True)])


def ncc_errors(layers: pd.DataFrame) -> pd.Series:
    """The exact train NCC error (a Fraction wrong / n) of every row of a layers table
    (`ncc_counts`)."""
    wrong, n = ncc_counts(layers)
    return pd.Series(
        [Fraction(int(w), int(k)) for w, k in zip(wrong, n, strict=True)],
        index=layers.index,
        dtype=object,
    )
