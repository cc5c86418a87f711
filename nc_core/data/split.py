"""A split of data in memory, stratified subsets, and seeded in-memory batching.

A `Split` is a pair of tensors that already lives where training runs; `batches` slices it with
a permutation seeded from (seed, epoch), so no DataLoader, worker or pinned buffer is involved.
The datasets that give splits are registered by name (`nc_core.data.registry`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class Split:
    """Inputs and integer labels of one split (train or test), on one device."""

    x: torch.Tensor  # (N, 1, 28, 28) float32 in [0, 1] for images; (N, D) for synthetic
    y: torch.Tensor  # (N,) int64
    # The files the dataset was read from (both splits'), for the run's data trace
    # (`nc_core.data.files.data_trace`); empty for generated data.
    source: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise ValueError(
                f"Split.y must be a 1-d int64 tensor, got dtype {self.y.dtype} and shape "
                f"{tuple(self.y.shape)}; convert labels with .long().reshape(-1)"
            )
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split.x has {self.x.shape[0]} samples but Split.y has {self.y.shape[0]}; "
                "pass one label per sample"
            )
        if self.x.device != self.y.device:
            raise ValueError(
                f"Split.x is on {self.x.device} but Split.y on {self.y.device}; move both"
            )

    def __len__(self) -> int:
        return self.y.shape[0]

    @property
    def num_classes(self) -> int:
        """Largest label + 1 (0 for an empty split)."""
        return int(self.y.max()) + 1 if len(self) else 0

    def to(self, device: torch.device | str) -> Split:
        """The same split on `device`."""
        return Split(self.x.to(device), self.y.to(device), self.source)


def stratified_subset(split: Split, n_per_class: int) -> Split:
    """The first `n_per_class` samples of each class, kept in their original relative order."""
    if n_per_class < 1:
        raise ValueError(f"stratified_subset: n_per_class={n_per_class}, expected >= 1")
    counts = torch.bincount(split.y, minlength=split.num_classes)  # (K,)
    short = (counts < n_per_class).nonzero().flatten().tolist()
    if short:
        k = short[0]
        raise ValueError(
            f"stratified_subset: class {k} has {int(counts[k])} samples, fewer than "
            f"n_per_class={n_per_class} (classes short: {short}); lower n_per_class"
        )
    order = torch.argsort(split.y, stable=True)  # (N,) grouped by class, original order inside
    starts = torch.cumsum(counts, 0) - counts  # (K,) first position of each class in `order`
    rank = torch.arange(len(split), device=split.y.device) - starts[split.y[order]]  # (N,)
    keep = order[rank < n_per_class].sort().values  # (K * n,) back in original order
    return Split(split.x[keep], split.y[keep], split.source)


def batches(
    split: Split, batch_size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches `(x, y)` covering `split` once, last partial batch included.

    Shuffled by a permutation from a CPU generator seeded with `seed * 1_000_003 + epoch`: the
    same order for the same (seed, epoch) on any device, a new one each epoch. `shuffle=False`
    gives the natural order. Arguments are checked here, before the first batch is asked for.
    """
    if batch_size < 1:
        raise ValueError(f"batches: batch_size={batch_size}, expected an integer >= 1")
    if seed < 0 or epoch < 0:
        raise ValueError(f"batches: seed={seed}, epoch={epoch}, expected both >= 0")
    order = None
    if shuffle:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(split), generator=gen).to(split.x.device)  # (N,)
    return _iterate(split, batch_size, order)


def _iterate(
    split: Split, batch_size: int, order: torch.Tensor | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(split), batch_size):
        if order is None:
            yield split.x[start : start + batch_size], split.y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]  # (B,)
            yield split.x[idx], split.y[idx]
