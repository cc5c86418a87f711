"""Neural-collapse measures: pure functions of tensors (class means, covariances, features).

Definitions follow Papyan, Han & Donoho, "Prevalence of neural collapse during the terminal phase
of deep learning training", PNAS 2020 (NC1-NC4), unless a docstring says otherwise. Measures that
take only class `means` (K, D) centre them on m̄, the average of the K class means. The streaming
accumulator that gives means and covariances batch by batch is
`nc_core.measure.class_stats.ClassStats`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


def _check_means(means: torch.Tensor) -> None:
    if means.ndim != 2 or means.shape[0] < 2:
        raise ValueError(f"means {tuple(means.shape)}: expected (K, D) with K >= 2")


def _centred(means: torch.Tensor) -> torch.Tensor:
    _check_means(means)
    return means - means.mean(0, keepdim=True)  # (K, D), centred on m̄


def ncc_predict(features: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Nearest-class-centre decision argmin_c |x - m_c|, via |m_c|^2 - 2 x.m_c; (N, D) -> (N,).

    (|x|^2 is the same for every c and is left out of the argmin.)
    """
    _check_means(means)
    if features.ndim != 2 or features.shape[1] != means.shape[1]:
        raise ValueError(
            f"ncc_predict features {tuple(features.shape)} vs means {tuple(means.shape)}: "
            "feature dimensions differ"
        )
    m = means.to(features.device)
    x = features.to(m.dtype)
    scores = (m * m).sum(1).unsqueeze(0) - 2.0 * (x @ m.T)  # (N, K)
    return scores.argmin(1)


def ncc_accuracy(features: torch.Tensor, labels: torch.Tensor, means: torch.Tensor) -> float:
    """Share of samples whose nearest class centre is their own class (Galanti et al. 2022)."""
    return (ncc_predict(features, means) == labels.to(features.device)).double().mean().item()


def nc1(within_cov: torch.Tensor, means: torch.Tensor) -> float:
    """NC1 = Tr(Sigma_W Sigma_B^+) / K: within-class variability against between-class."""
    Mc = _centred(means).to(within_cov.dtype)  # (K, D)
    K, D = Mc.shape
    if within_cov.shape != (D, D):
        raise ValueError(f"nc1 within_cov {tuple(within_cov.shape)}: expected ({D}, {D})")
    Sigma_B = Mc.T @ Mc / K  # (D, D), rank <= K - 1
    return (torch.trace(within_cov @ torch.linalg.pinv(Sigma_B, hermitian=True)) / K).item()


def nc2_equinorm(means: torch.Tensor) -> float:
    """NC2 equinorm: std_c |m_c - m̄| / mean_c |m_c - m̄| (population std); 0 for an ETF."""
    norms = _centred(means).norm(dim=1)  # (K,)
    return (norms.std(correction=0) / norms.mean()).item()


def nc2_equiangle(means: torch.Tensor) -> float:
    """NC2 equiangularity: mean over c != c' of |cos(m_c - m̄, m_c' - m̄) + 1/(K-1)|; 0 for an ETF."""
    Mc = _centred(means)
    K = Mc.shape[0]
    U = Mc / Mc.norm(dim=1, keepdim=True)  # (K, D)
    cos = U @ U.T  # (K, K)
    off = ~torch.eye(K, dtype=torch.bool, device=cos.device)
    return (cos[off] + 1.0 / (K - 1)).abs().mean().item()


def etf_distance(means: torch.Tensor) -> float:
    """|G/|G|_F - P/|P|_F|_F, G the Gram of the centred means, P = I - 1 1^T/K; 0 for an ETF."""
    Mc = _centred(means)
    K = Mc.shape[0]
    G = Mc @ Mc.T  # (K, K)
    P = torch.eye(K, dtype=G.dtype, device=G.device) - 1.0 / K
    return (G / G.norm() - P / P.norm()).norm().item()


def nc3_duality(W: torch.Tensor, means: torch.Tensor) -> float:
    """NC3 self-duality: |W/|W|_F - (M - m̄)/|M - m̄|_F|_F^2 with classifier W (K, D)."""
    Mc = _centred(means)
    if W.shape != Mc.shape:
        raise ValueError(
            f"nc3_duality W {tuple(W.shape)} vs means {tuple(Mc.shape)}: expected equal (K, D)"
        )
    W = W.to(Mc.dtype)
    return ((W / W.norm() - Mc / Mc.norm()).norm() ** 2).item()


def nc4_mismatch(logits: torch.Tensor, features: torch.Tensor, means: torch.Tensor) -> float:
    """NC4: share of samples where argmax(logits) differs from the NCC decision on `features`."""
    if logits.shape[0] != features.shape[0]:
        raise ValueError(
            f"nc4_mismatch: {logits.shape[0]} logits vs {features.shape[0]} feature rows"
        )
    pred = ncc_predict(features, means)
    return (logits.argmax(1).to(pred.device) != pred).double().mean().item()


def cdnv(variances: torch.Tensor, means: torch.Tensor) -> float:
    """Class-distance normalised variance (Galanti, György & Hutter 2022, "On the role of neural
    collapse in transfer learning"): the mean over class pairs c < c' of
    (var_c + var_c') / (2 |m_c - m_c'|^2), with var_c the within-class variance (K,)."""
    _check_means(means)
    K = means.shape[0]
    if variances.shape != (K,):
        raise ValueError(f"cdnv variances {tuple(variances.shape)}: expected ({K},)")
    i, j = torch.triu_indices(K, K, offset=1)
    dist2 = ((means[i] - means[j]) ** 2).sum(1)  # (K(K-1)/2,)
    v = variances.to(means.dtype)
    return ((v[i] + v[j]) / (2.0 * dist2)).mean().item()


def spectrum(A: torch.Tensor, *, psd: bool = False) -> torch.Tensor:
    """Singular values of A, largest first; for a covariance (`psd`), its eigenvalues."""
    if psd:
        return torch.linalg.eigvalsh(A).clamp(min=0).flip(0)
    return torch.linalg.svdvals(A)


def ranks(A: torch.Tensor, *, psd: bool = False) -> tuple[int, float]:
    """(numerical rank, effective rank) of A from one decomposition."""
    s = spectrum(A, psd=psd)
    return _numerical_rank(s, max(A.shape)), _effective_rank(s)


def _numerical_rank(s: torch.Tensor, size: int) -> int:
    if s.numel() == 0 or s[0] <= 0:
        return 0
    tol = s[0] * size * torch.finfo(torch.float32).eps
    return int((s > tol).sum().item())


def _effective_rank(s: torch.Tensor) -> float:
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum()).item()


def numerical_rank(A: torch.Tensor, *, psd: bool = False) -> int:
    """Singular values above s_max * max(m, n) * eps(float32): the rank at the precision the
    features were computed in (float32), however they were accumulated."""
    return _numerical_rank(spectrum(A, psd=psd), max(A.shape))


def effective_rank(A: torch.Tensor, *, psd: bool = False) -> float:
    """Effective rank (Roy & Vetterli 2007): exp of the entropy of the normalised singular
    values p_i = s_i / sum_j s_j (0 log 0 = 0); between 1 and the rank."""
    return _effective_rank(spectrum(A, psd=psd))


def prediction_entropy(counts: torch.Tensor) -> float:
    """Entropy (nats) of a prediction histogram (K,): ln K when every class is predicted
    equally often, 0 when one class takes every prediction (mode collapse)."""
    p = counts.double() / counts.sum()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


# The probe's ridge, as a share of the mean feature variance tr(Sigma_T) / D: small enough that the
# probe is least squares wherever Sigma_T is well conditioned, large enough to make the solve
# well-posed where it is singular (dead units; a collapsed layer's features span about K-1 dims).
PROBE_RIDGE = 1e-3


class LinearProbe(NamedTuple):
    """A linear probe onto one-hot labels: scores (x - centre) W + b, prediction argmax."""

    centre: torch.Tensor  # (D,) the global feature mean
    W: torch.Tensor  # (D, K)
    b: torch.Tensor  # (K,) the class shares (the intercept of centred least squares)


def ridge_probe(
    total_cov: torch.Tensor,
    means: torch.Tensor,
    counts: torch.Tensor,
    *,
    ridge: float = PROBE_RIDGE,
) -> LinearProbe:
    """Ridge regression of one-hot labels Y on features X, centred and with an intercept, from the
    streamed class statistics alone: the linear probe of the "tunnel effect" (Masarczyk et al.
    2023) without keeping X.

    With N samples, p_c = n_c / N and mu = sum_c p_c m_c, the centred normal equations divided by
    N are (Sigma_T + lam I) W = (M - mu)^T diag(p), since Xc^T Xc = N Sigma_T and column c of
    Xc^T Y is n_c (m_c - mu); the intercept makes the scores (x - mu) W + p. lam = ridge *
    tr(Sigma_T) / D, the ridge scaled to the mean feature variance (so invariant to the
    features' scale); one (D, D) solve. total_cov (D, D), means (K, D), counts (K,)."""
    _check_means(means)
    K, D = means.shape
    if total_cov.shape != (D, D) or counts.shape != (K,):
        raise ValueError(
            f"ridge_probe total_cov {tuple(total_cov.shape)}, counts {tuple(counts.shape)}: "
            f"expected ({D}, {D}) and ({K},)"
        )
    S = total_cov.double()
    M = means.to(S)
    p = counts.to(S) / counts.sum()  # (K,)
    mu = p @ M  # (D,)
    rhs = (M - mu).T * p  # (D, K)
    lam = ridge * torch.trace(S) / D
    if not lam > 0:  # constant features: nothing to regress on
        return LinearProbe(mu, torch.zeros_like(rhs), p)
    A = S + lam * torch.eye(D, dtype=S.dtype, device=S.device)  # (D, D), positive definite
    W = torch.linalg.solve(A, rhs)  # (D, K)
    return LinearProbe(mu, W, p)


def probe_predict(features: torch.Tensor, probe: LinearProbe) -> torch.Tensor:
    """The probe's class for each row of features (N, D) -> (N,)."""
    if features.ndim != 2 or features.shape[1] != probe.W.shape[0]:
        raise ValueError(
            f"probe_predict features {tuple(features.shape)}: expected (N, {probe.W.shape[0]})"
        )
    W = probe.W.to(features.device)
    offset = probe.b.to(W.device) - probe.centre.to(W.device) @ W  # (K,): no (N, D) centring
    return (features.to(W.dtype) @ W + offset).argmax(1)


def safe(value: float) -> float:
    """NaN for a measure that is not finite (a degenerate layer), the value otherwise."""
    return value if math.isfinite(value) else math.nan
