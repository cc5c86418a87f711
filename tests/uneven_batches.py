"""Features with class-dependent means and spreads in uneven batches, streamed into ClassStats.

Shared by the ClassStats tests and the NC-measure tests; `assert_rel` is their tolerance.
"""

import numpy as np
import torch

from nc_core.measure.class_stats import ClassStats

K, D = 5, 6
BATCH_SIZES = [1, 7, 300, 13, 2, 50, 1, 120, 3]


def assert_rel(actual, expected, rtol=1e-9):
    """|actual - expected|_F <= rtol |expected|_F (entrywise rtol fails on near-zero entries)."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape
    err, scale = np.linalg.norm(a - e), np.linalg.norm(e)
    assert err <= rtol * scale, f"relative error {err / scale:.3g} > {rtol}"


def uneven_data(seed: int = 0):
    """Features (N, D) float64 with class-dependent means and spreads, labels (N,), and batches.

    The 300-sample batch holds only classes 0 and 1; the size-1 batches miss all but one class.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 3
    ys = []
    for b in BATCH_SIZES:
        ys.append(rng.integers(0, 2, size=b) if b == 300 else rng.integers(0, K, size=b))
    y = np.concatenate(ys)
    assert set(y.tolist()) == set(range(K))
    X = centres[y] + rng.normal(size=(y.size, D)) * (1 + y[:, None])
    bounds = np.cumsum([0] + BATCH_SIZES)
    batches = [(X[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return X, y, batches


def stream(batches, offset=0.0, covariance=True, dtype=torch.float64):
    stats = ClassStats(K, D, covariance=covariance)
    for Xb, yb in batches:
        stats.update(torch.tensor(Xb + offset, dtype=dtype), torch.tensor(yb))
    return stats
