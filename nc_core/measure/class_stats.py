"""`ClassStats`: per-class counts, means, variances and scatter, streamed batch by batch.

The accumulator of the NC statistics: nothing keeps all N features of a layer, and what it gives
(class means, Sigma_W, Sigma_T, Sigma_B) feeds the pure measures of `nc_core.measure.metrics`.
Definitions follow Papyan, Han & Donoho, PNAS 2020.
"""

from __future__ import annotations

import torch


class ClassStats:
    """Per-class counts, means and pooled within-class scatter, merged batch by batch.

    The merge is the parallel-variance update of Chan, Golub & LeVeque (1979): each batch's own
    centred scatter plus a correction n_c b_c / (n_c + b_c) δ_c δ_c^T for the shift of each class
    mean, so a large common offset in the features costs no precision. Memory O(K D + D^2).
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        *,
        device=None,
        dtype=torch.float64,
        covariance: bool = True,
    ):
        if num_classes < 2:
            raise ValueError(f"ClassStats num_classes={num_classes}: need K >= 2 classes")
        if dim < 1:
            raise ValueError(f"ClassStats dim={dim}: need D >= 1")
        self.K, self.D, self.covariance = num_classes, dim, covariance
        self._n = torch.zeros(num_classes, dtype=dtype, device=device)  # (K,)
        self._mean = torch.zeros(num_classes, dim, dtype=dtype, device=device)  # (K, D)
        self._ss = torch.zeros(num_classes, dtype=dtype, device=device)  # (K,) sum |h - m_c|^2
        self._scatter = (
            torch.zeros(dim, dim, dtype=dtype, device=device)  # (D, D)
            if covariance
            else None
        )

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> ClassStats:
        """Merge a batch: features (B, D), labels (B,) in [0, K)."""
        if features.ndim != 2 or features.shape[1] != self.D:
            raise ValueError(
                f"ClassStats.update features {tuple(features.shape)}: expected (B, {self.D})"
            )
        if labels.shape != features.shape[:1]:
            raise ValueError(
                f"ClassStats.update labels {tuple(labels.shape)}: expected ({features.shape[0]},)"
            )
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.K):
            raise ValueError(f"ClassStats.update labels outside [0, {self.K})")
        X = features.to(device=self._mean.device, dtype=self._mean.dtype)  # (B, D)
        y = labels.to(self._mean.device)
        b = torch.bincount(y, minlength=self.K).to(X.dtype)  # (K,)
        sums = torch.zeros_like(self._mean).index_add_(0, y, X)  # (K, D)
        present = b > 0
        bmean = sums / b.clamp(min=1).unsqueeze(1)  # (K, D)
        delta = bmean - self._mean  # (K, D)
        total = self._n + b
        w = torch.where(present, b / total.clamp(min=1), torch.zeros_like(b))  # (K,)
        Xc = X - bmean[y]  # (B, D) centred on the batch's class means
        shift = self._n * w  # (K,) n_c b_c / (n_c + b_c)
        self._ss.index_add_(0, y, (Xc * Xc).sum(1)).add_(shift * (delta * delta).sum(1))
        if self._scatter is not None:
            self._scatter.add_(Xc.T @ Xc)
            self._scatter.add_((delta * shift.unsqueeze(1)).T @ delta)
        self._mean.add_(delta * w.unsqueeze(1))
        self._n = total
        return self

    def counts(self) -> torch.Tensor:
        """Samples seen per class, shape (K,)."""
        return self._n.clone()  # (K,)

    def _check_nonempty(self) -> None:
        empty = (self._n == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"ClassStats: classes {empty} have no samples; every class needs one")

    def means(self) -> torch.Tensor:
        """Class means m_c, shape (K, D); ValueError when a class has no samples."""
        self._check_nonempty()
        return self._mean.clone()  # (K, D)

    def global_mean(self) -> torch.Tensor:
        """Mean over all samples (the count-weighted mean of the class means)."""
        self._check_nonempty()
        return (self._n.unsqueeze(1) * self._mean).sum(0) / self._n.sum()  # (D,)

    def class_variances(self) -> torch.Tensor:
        """var_c = (1/n_c) sum_i |h_ci - m_c|^2 per class, shape (K,) (the trace of each class's
        covariance; kept without the D x D scatter)."""
        self._check_nonempty()
        return self._ss / self._n

    def total_cov(self) -> torch.Tensor:
        """Sigma_T = (1/N) sum_i (h_i - mu_G)(h_i - mu_G)^T = Sigma_W + count-weighted between
        scatter, shape (D, D): the feature covariance."""
        D = self._mean - self.global_mean()  # (K, D)
        return self.within_cov() + (D * (self._n / self._n.sum()).unsqueeze(1)).T @ D

    def within_cov(self) -> torch.Tensor:
        """Sigma_W = (1/N) sum_c sum_i (h_ci - m_c)(h_ci - m_c)^T, shape (D, D)."""
        if self._scatter is None:
            raise ValueError("ClassStats(covariance=False) keeps no within-class scatter")
        self._check_nonempty()
        return self._scatter / self._n.sum()

    def between_cov(self) -> torch.Tensor:
        """Sigma_B = (1/K) sum_c (m_c - m̄)(m_c - m̄)^T, shape (D, D)."""
        M = self.means()  # (K, D)
        Mc = M - M.mean(0, keepdim=True)  # (K, D), centred on m̄
        return Mc.T @ Mc / self.K
