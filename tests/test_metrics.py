"""The NC measures of nc_core.measure.metrics against brute-force loops, numpy and closed forms (the
streamed statistics they read are tests/test_class_stats.py)."""

import math

import numpy as np
import pytest
import torch

from nc_core.fixing.etf import simplex_etf
from nc_core.measure.class_stats import ClassStats
from nc_core.measure.metrics import (
    PROBE_RIDGE,
    cdnv,
    effective_rank,
    etf_distance,
    nc1,
    nc2_equiangle,
    nc2_equinorm,
    nc3_duality,
    nc4_mismatch,
    ncc_accuracy,
    ncc_predict,
    numerical_rank,
    prediction_entropy,
    probe_predict,
    ranks,
    ridge_probe,
    safe,
)
from tests.uneven_batches import D, K, assert_rel, stream, uneven_data


def brute_ncc(X: np.ndarray, M: np.ndarray) -> list:
    preds = []
    for x in X:
        best, best_c = math.inf, -1
        for c, m in enumerate(M):
            d = sum((float(a) - float(b)) ** 2 for a, b in zip(x, m, strict=True))
            if d < best:
                best, best_c = d, c
        preds.append(best_c)
    return preds


def test_ncc_accuracy_equals_a_brute_force_double_loop():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 5))
    y = rng.integers(0, 4, size=80)
    M = rng.normal(size=(4, 5)) * 0.7  # not the class means: accuracy is strictly between 0 and 1
    preds = brute_ncc(X, M)
    expected = np.mean(np.array(preds) == y)
    assert 0 < expected < 1
    torch.testing.assert_close(ncc_predict(torch.tensor(X), torch.tensor(M)), torch.tensor(preds))
    acc = ncc_accuracy(torch.tensor(X), torch.tensor(y), torch.tensor(M))
    assert acc == pytest.approx(expected)
    # float32 features against float64 means
    acc32 = ncc_accuracy(torch.tensor(X, dtype=torch.float32), torch.tensor(y), torch.tensor(M))
    assert acc32 == pytest.approx(expected)


def test_ncc_predict_rejects_dimension_mismatch():
    with pytest.raises(ValueError, match="dimensions differ"):
        ncc_predict(torch.zeros(3, 5), torch.zeros(4, 6))
    with pytest.raises(ValueError, match="K >= 2"):
        ncc_predict(torch.zeros(3, 5), torch.zeros(1, 5))


def test_nc1_is_zero_for_perfectly_collapsed_features():
    rng = np.random.default_rng(5)
    M = rng.normal(size=(K, D))
    y = np.repeat(np.arange(K), 7)
    stats = ClassStats(K, D).update(torch.tensor(M[y]), torch.tensor(y))
    assert abs(nc1(stats.within_cov(), stats.means())) < 1e-12


def closed_form_nc1(s2: float, M: np.ndarray) -> float:
    """Sigma_W = s^2 I: Tr(Sigma_W Sigma_B^+) / K = s^2 (sum of 1/lambda over the nonzero
    eigenvalues lambda of Sigma_B) / K."""
    lam = np.linalg.eigvalsh(np.cov(M, rowvar=False, bias=True))
    nonzero = lam[lam > 1e-10 * lam.max()]
    assert nonzero.size == M.shape[0] - 1
    return s2 * np.sum(1.0 / nonzero) / M.shape[0]


def test_nc1_matches_the_closed_form_for_exactly_isotropic_classes():
    rng = np.random.default_rng(6)
    s = 0.3
    M = rng.normal(size=(K, D + 2)) * 2  # (K, D'), D' > K - 1: Sigma_B is singular
    Dp = M.shape[1]
    # Sigma_W = s^2 I given directly ...
    expected = closed_form_nc1(s * s, M)
    got = nc1(s * s * torch.eye(Dp, dtype=torch.float64), torch.tensor(M))
    assert got == pytest.approx(expected, rel=1e-9)
    # ... and built from samples m_c +- a e_j, whose within-class covariance is a^2/D' I exactly
    a = s * math.sqrt(Dp)
    E = np.concatenate([np.eye(Dp), -np.eye(Dp)]) * a  # (2 D', D')
    X = np.concatenate([m + E for m in M])
    y = np.repeat(np.arange(K), 2 * Dp)
    stats = ClassStats(K, Dp).update(torch.tensor(X), torch.tensor(y))
    assert_rel(stats.within_cov(), s * s * np.eye(Dp), rtol=1e-12)
    assert nc1(stats.within_cov(), stats.means()) == pytest.approx(expected, rel=1e-9)


def test_nc1_of_sampled_isotropic_gaussians_is_near_the_closed_form():
    gen = torch.Generator().manual_seed(7)
    s, n = 0.5, 3000
    M = torch.randn(3, 4, generator=gen, dtype=torch.float64) * 2
    y = torch.arange(3).repeat_interleave(n)
    X = M[y] + s * torch.randn(3 * n, 4, generator=gen, dtype=torch.float64)
    stats = ClassStats(3, 4).update(X, y)
    assert nc1(stats.within_cov(), stats.means()) == pytest.approx(
        closed_form_nc1(s * s, M.numpy()), rel=0.1
    )


def etf_means(K_: int, D_: int, *, scale=3.7, seed=0) -> torch.Tensor:
    """Scaled simplex-ETF rows, rotated by a random orthogonal Q and shifted by a common offset."""
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(D_, D_, generator=gen, dtype=torch.float64))
    offset = torch.randn(D_, generator=gen, dtype=torch.float64) * 10
    return scale * simplex_etf(K_, D_).double() @ Q + offset  # (K, D)


MEASURES = [nc2_equinorm, nc2_equiangle, etf_distance]


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("KD", [(2, 3), (5, 8), (10, 10)])
def test_nc2_measures_vanish_on_etf_means(measure, KD):
    assert abs(measure(etf_means(*KD))) < 1e-6


@pytest.mark.parametrize("measure", MEASURES)
def test_nc2_measures_are_positive_off_etf_and_invariant_to_scale_and_offset(measure):
    gen = torch.Generator().manual_seed(8)
    A = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    value = measure(A)
    assert value > 1e-2
    offset = torch.randn(8, generator=gen, dtype=torch.float64) * 100
    assert measure(4.2 * A + offset) == pytest.approx(value, rel=1e-9)


def test_equinorm_equals_numpy_std_over_mean_of_centred_norms():
    rng = np.random.default_rng(9)
    M = rng.normal(size=(6, 4))
    norms = np.linalg.norm(M - M.mean(axis=0), axis=1)
    assert nc2_equinorm(torch.tensor(M)) == pytest.approx(np.std(norms) / np.mean(norms))


def test_equiangle_equals_a_loop_over_pairs():
    rng = np.random.default_rng(10)
    M = rng.normal(size=(5, 7))
    C = M - M.mean(axis=0)
    k = len(C)
    devs = [
        abs(C[i] @ C[j] / (np.linalg.norm(C[i]) * np.linalg.norm(C[j])) + 1 / (k - 1))
        for i in range(k)
        for j in range(k)
        if i != j
    ]
    assert nc2_equiangle(torch.tensor(M)) == pytest.approx(np.mean(devs))


def test_nc3_duality_is_zero_for_scaled_centred_means_and_four_for_their_negative():
    gen = torch.Generator().manual_seed(11)
    M = torch.randn(4, 6, generator=gen, dtype=torch.float64) + 5
    Mc = M - M.mean(0)
    assert abs(nc3_duality(2.5 * Mc, M)) < 1e-12
    assert nc3_duality(-0.1 * Mc, M) == pytest.approx(4.0)
    assert nc3_duality(torch.randn(4, 6, generator=gen, dtype=torch.float64), M) > 1e-2
    with pytest.raises(ValueError, match="nc3_duality"):
        nc3_duality(torch.zeros(4, 5), M)


def test_nc4_mismatch_equals_a_brute_force_count():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(50, 3))
    M = rng.normal(size=(4, 3))
    logits = rng.normal(size=(50, 4))
    ncc = brute_ncc(X, M)
    argmax = [max(range(4), key=lambda c, row=row: row[c]) for row in logits]
    expected = sum(a != b for a, b in zip(argmax, ncc, strict=True)) / 50
    assert 0 < expected < 1
    got = nc4_mismatch(torch.tensor(logits), torch.tensor(X), torch.tensor(M))
    assert got == pytest.approx(expected)
    with pytest.raises(ValueError, match="nc4_mismatch"):
        nc4_mismatch(torch.tensor(logits[:3]), torch.tensor(X), torch.tensor(M))


def test_safe_maps_non_finite_to_nan():
    assert safe(1.5) == 1.5
    assert math.isnan(safe(math.inf)) and math.isnan(safe(math.nan))


# ------------------------------- CDNV, ranks, dead units and prediction entropy, against numpy


def test_cdnv_equals_a_brute_force_loop_over_class_pairs():
    X, y, batches = uneven_data(4)
    stats = stream(batches)
    M = np.stack([X[y == c].mean(0) for c in range(K)])
    var = [((X[y == c] - M[c]) ** 2).sum(1).mean() for c in range(K)]
    pairs = [
        (var[a] + var[b]) / (2 * ((M[a] - M[b]) ** 2).sum())
        for a in range(K)
        for b in range(a + 1, K)
    ]
    got = cdnv(stats.class_variances(), stats.means())
    assert got == pytest.approx(np.mean(pairs), rel=1e-9)


def test_cdnv_is_zero_for_collapsed_classes_and_grows_with_spread():
    M = simplex_etf(K, D, kind="rotated", seed=1).double()  # (K, D)
    assert cdnv(torch.zeros(K, dtype=torch.float64), M) == 0.0
    assert cdnv(torch.full((K,), 2.0, dtype=torch.float64), M) == pytest.approx(
        2 * cdnv(torch.ones(K, dtype=torch.float64), M)
    )


def test_numerical_rank_matches_numpy_at_the_float32_tolerance():
    rng = np.random.default_rng(5)
    for r in (1, 3, 6):
        A = rng.normal(size=(9, r)) @ rng.normal(size=(r, 7))  # rank r
        s = np.linalg.svd(A, compute_uv=False)
        tol = s[0] * max(A.shape) * np.finfo(np.float32).eps
        expected = np.linalg.matrix_rank(A, tol=tol)
        assert numerical_rank(torch.from_numpy(A)) == expected == r
        C = A.T @ A  # PSD (7, 7), rank r
        assert numerical_rank(torch.from_numpy(C), psd=True) == r


def test_effective_rank_closed_forms_and_numpy():
    # r equal singular values: exp(ln r) = r; one dominant value: close to 1
    Q = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))[0]
    for r in (1, 2, 5):
        A = Q[:, :r] @ Q[:r, :]  # r singular values equal to 1
        assert effective_rank(A) == pytest.approx(r, rel=1e-9)
    A = np.diag([1.0, 2.0, 3.0, 0.0])
    p = np.array([1, 2, 3]) / 6
    assert effective_rank(torch.from_numpy(A)) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert effective_rank(torch.from_numpy(A), psd=True) == pytest.approx(
        np.exp(-(p * np.log(p)).sum())
    )


def test_the_etf_means_have_rank_k_minus_1_and_effective_rank_k_minus_1():
    M = simplex_etf(K, D, kind="rotated", seed=2).double()  # centred ETF: K-1 equal values
    Mc = M - M.mean(0, keepdim=True)
    assert numerical_rank(Mc) == K - 1
    assert effective_rank(Mc) == pytest.approx(K - 1, rel=1e-9)


def test_prediction_entropy_closed_forms():
    assert prediction_entropy(torch.tensor([5, 5, 5, 5])) == pytest.approx(math.log(4))
    assert prediction_entropy(torch.tensor([0, 9, 0])) == 0.0
    assert prediction_entropy(torch.tensor([1, 3])) == pytest.approx(
        -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    )


def test_ranks_from_one_decomposition_equal_the_two_measures():
    A = torch.randn(7, 5, dtype=torch.float64) @ torch.randn(5, 9, dtype=torch.float64)
    C = A.T @ A
    assert ranks(A) == (numerical_rank(A), effective_rank(A))
    assert ranks(C, psd=True) == (numerical_rank(C, psd=True), effective_rank(C, psd=True))


def numpy_ridge_probe(X: np.ndarray, y: np.ndarray, ridge: float = PROBE_RIDGE):
    """Ridge regression of one-hot labels by numpy least squares on the features themselves:
    centred, with an intercept, lambda = N * ridge * tr(Sigma_T) / D on the unnormalised sum."""
    N, D = X.shape
    Y = np.eye(K)[y]
    mu, ybar = X.mean(0), Y.mean(0)
    Xc, Yc = X - mu, Y - ybar
    lam = N * ridge * np.trace(Xc.T @ Xc / N) / D
    A = np.vstack([Xc, np.sqrt(lam) * np.eye(D)])  # least squares of [Xc; sqrt(lam) I] W = [Yc; 0]
    W = np.linalg.lstsq(A, np.vstack([Yc, np.zeros((D, K))]), rcond=None)[0]
    return W, ybar - mu @ W


@pytest.mark.parametrize("ridge", [PROBE_RIDGE, 0.5])
def test_ridge_probe_from_streamed_statistics_equals_numpy_least_squares(ridge):
    X, y, batches = uneven_data(seed=4)
    s = stream(batches, offset=50.0)  # a large common offset: the centring must absorb it
    probe = ridge_probe(s.total_cov(), s.means(), s.counts(), ridge=ridge)
    W, b = numpy_ridge_probe(X + 50.0, y, ridge)
    assert_rel(probe.W, W, rtol=1e-7)
    scores = (X + 50.0) @ W + b
    pred = probe_predict(torch.tensor(X + 50.0), probe).numpy()
    assert (pred == scores.argmax(1)).all()
    assert 0.5 < (pred == y).mean() <= 1.0  # separable classes: the probe is informative


def test_ridge_probe_is_well_posed_on_rank_deficient_and_constant_features():
    X, y, batches = uneven_data(seed=5)
    dup = [(np.hstack([Xb, Xb[:, :1], np.zeros((len(Xb), 1))]), yb) for Xb, yb in batches]
    s = ClassStats(K, D + 2)
    for Xb, yb in dup:
        s.update(torch.tensor(Xb), torch.tensor(yb))
    probe = ridge_probe(s.total_cov(), s.means(), s.counts())
    assert torch.isfinite(probe.W).all()
    Xd = np.hstack([X, X[:, :1], np.zeros((len(X), 1))])
    W, _ = numpy_ridge_probe(Xd, y)
    assert_rel(probe.W, W, rtol=1e-6)
    flat = ClassStats(K, 3)
    flat.update(torch.ones(K * 2, 3, dtype=torch.float64), torch.arange(K).repeat(2))
    const = ridge_probe(flat.total_cov(), flat.means(), flat.counts())
    assert (const.W == 0).all()
    torch.testing.assert_close(const.b, torch.full((K,), 1.0 / K, dtype=torch.float64))
