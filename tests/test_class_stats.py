"""ClassStats against one-shot numpy references: streaming over uneven batches, precision under
a large offset, float32 input, and bad input refused before it is counted."""

import numpy as np
import pytest
import torch

from nc_core.measure.class_stats import ClassStats
from tests.uneven_batches import D, K, assert_rel, stream, uneven_data


def numpy_reference(X: np.ndarray, y: np.ndarray, num_classes: int):
    """One shot in float64: counts, class means, Sigma_W, Sigma_B (about the mean of the class
    means, as nc_core.measure.metrics defines it), and the global mean mu_G over all samples."""
    counts = np.array([(y == c).sum() for c in range(num_classes)])
    M = np.stack([np.mean(X[y == c], axis=0) for c in range(num_classes)])
    scatter = sum(
        np.cov(X[y == c], rowvar=False, bias=True) * counts[c] for c in range(num_classes)
    )
    Sigma_W = scatter / len(y)
    Sigma_B = np.cov(M, rowvar=False, bias=True)  # (1/K) sum_c (m_c - mbar)(m_c - mbar)^T
    return counts, M, Sigma_W, Sigma_B, np.mean(X, axis=0)


def test_streaming_over_uneven_batches_equals_one_shot_numpy():
    X, y, batches = uneven_data()
    counts, M, Sigma_W, Sigma_B, mu_G = numpy_reference(X, y, K)
    stats = stream(batches)
    np.testing.assert_array_equal(stats.counts().numpy(), counts)
    assert_rel(stats.means(), M)
    assert_rel(stats.within_cov(), Sigma_W)
    assert_rel(stats.between_cov(), Sigma_B)
    assert_rel(stats.global_mean(), mu_G)


def test_streaming_with_a_large_common_offset_keeps_precision():
    offset = 1e6
    X, y, batches = uneven_data(seed=1)
    # the reference works on the uncentred-by-offset data, where float64 is exact enough,
    # and shifts only the quantities that the offset shifts
    counts, M, Sigma_W, Sigma_B, mu_G = numpy_reference(X, y, K)
    stats = stream(batches, offset=offset)
    np.testing.assert_array_equal(stats.counts().numpy(), counts)
    assert_rel(stats.means(), M + offset)
    assert_rel(stats.global_mean(), mu_G + offset)
    assert_rel(stats.within_cov(), Sigma_W)
    assert_rel(stats.between_cov(), Sigma_B)


def test_batch_order_does_not_matter():
    _, _, batches = uneven_data(seed=2)
    a, b = stream(batches), stream(batches[::-1])
    assert_rel(a.within_cov(), b.within_cov().numpy(), rtol=1e-12)
    assert_rel(a.means(), b.means().numpy(), rtol=1e-12)


def test_float32_features_are_accumulated_in_float64():
    X, y, batches = uneven_data(seed=3)
    batches32 = [(Xb.astype(np.float32).astype(np.float64), yb) for Xb, yb in batches]
    X32 = np.concatenate([Xb for Xb, _ in batches32])
    _, M, Sigma_W, _, _ = numpy_reference(X32, y, K)
    stats = stream(batches32, dtype=torch.float32)
    assert stats.means().dtype == torch.float64
    assert_rel(stats.means(), M)
    assert_rel(stats.within_cov(), Sigma_W)


def test_without_covariance_means_work_and_within_cov_raises():
    X, y, batches = uneven_data()
    counts, M, _, Sigma_B, mu_G = numpy_reference(X, y, K)
    stats = stream(batches, covariance=False)
    np.testing.assert_array_equal(stats.counts().numpy(), counts)
    assert_rel(stats.means(), M)
    assert_rel(stats.between_cov(), Sigma_B)
    assert_rel(stats.global_mean(), mu_G)
    with pytest.raises(ValueError, match="covariance=False"):
        stats.within_cov()


def test_bad_input_raises():
    with pytest.raises(ValueError, match="K >= 2"):
        ClassStats(1, D)
    stats = ClassStats(K, D)
    with pytest.raises(ValueError, match=f"expected \\(B, {D}\\)"):
        stats.update(torch.zeros(3, D + 1), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        stats.update(torch.zeros(3, D), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="outside"):
        stats.update(torch.zeros(3, D), torch.tensor([0, 1, K]))
    assert stats.counts().sum() == 0  # rejected batches left nothing behind


def test_an_empty_class_raises_on_read_out():
    stats = ClassStats(K, D).update(torch.randn(4, D), torch.tensor([0, 1, 2, 0]))
    for read in (stats.means, stats.within_cov, stats.between_cov, stats.global_mean):
        with pytest.raises(ValueError, match=r"\[3, 4\]"):
            read()


@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_streamed_class_variances_and_total_covariance_equal_numpy_one_shot(offset):
    X, y, batches = uneven_data(3)
    X = X + offset
    stats = stream(batches, offset=offset)
    var = np.array([((X[y == c] - X[y == c].mean(0)) ** 2).sum(1).mean() for c in range(K)])
    assert_rel(stats.class_variances().numpy(), var, rtol=1e-9)
    assert_rel(stats.total_cov().numpy(), np.cov(X, rowvar=False, bias=True), rtol=1e-9)
    assert_rel(stream(batches, covariance=False).class_variances().numpy(), var, rtol=1e-9)
