"""Separable Gaussian classes: data that needs no download, for tests, smoke runs and CI."""

from __future__ import annotations

import torch

from nc_core.data.registry import DataRequest, register_dataset
from nc_core.data.split import Split

DIM, TRAIN_PER_CLASS, TEST_PER_CLASS = 32, 300, 100  # the registered dataset's sizes


def synthetic_classes(
    num_classes: int,
    dim: int,
    n_per_class: int,
    *,
    seed: int,
    n_test_per_class: int | None = None,
    spread: float = 1.0,
) -> tuple[Split, Split]:
    """Gaussian classes `x = mu_k + spread * z`, z ~ N(0, I), sharing centres `mu_k` train/test.

    Centres have norm `10 * spread`; when `dim >= num_classes` they are orthonormal directions of
    a random rotation, so any two are `10 * sqrt(2) * spread` apart and nearest-class-mean errs
    with probability about Phi(-7) per pair. With `dim < num_classes` the directions are random
    and two centres may lie close. Samples are grouped by class; deterministic in `seed`.
    """
    n_test = max(n_per_class // 5, 1) if n_test_per_class is None else n_test_per_class
    for name, value in (
        ("num_classes", num_classes),
        ("dim", dim),
        ("n_per_class", n_per_class),
        ("n_test_per_class", n_test),
    ):
        if value < 1:
            raise ValueError(f"synthetic_classes: {name}={value}, expected an integer >= 1")
    if not spread > 0:
        raise ValueError(f"synthetic_classes: spread={spread}, expected a positive float")
    gen = torch.Generator().manual_seed(seed)
    if dim >= num_classes:
        q, _ = torch.linalg.qr(torch.randn(dim, num_classes, generator=gen))  # (dim, K)
        mu = q.T  # (K, dim) orthonormal rows
    else:
        mu = torch.randn(num_classes, dim, generator=gen)  # (K, dim)
        mu = mu / mu.norm(dim=1, keepdim=True)
    mu = 10.0 * spread * mu  # (K, dim)

    def draw(n: int) -> Split:
        y = torch.arange(num_classes).repeat_interleave(n)  # (K * n,)
        x = mu[y] + spread * torch.randn(num_classes * n, dim, generator=gen)  # (K * n, dim)
        return Split(x.float(), y)

    train = draw(n_per_class)  # drawn first: the train set does not depend on n_test
    return train, draw(n_test)


@register_dataset(
    "synthetic",
    num_classes=None,
    input_shape=(DIM,),
    train_per_class=TRAIN_PER_CLASS,
    normalization="none: Gaussian classes around centres of norm 10",
)
def load_synthetic(req: DataRequest) -> tuple[Split, Split]:
    """K Gaussian classes in 32 dimensions (`synthetic_classes`), 300 train and 100 test each,
    drawn from the run's seed; K is the run's num_classes."""
    return synthetic_classes(
        req.num_classes, DIM, TRAIN_PER_CLASS, seed=req.seed, n_test_per_class=TEST_PER_CLASS
    )
