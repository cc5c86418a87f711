"""nc_core.data.split: splits, seeded batching, stratified subsets, synthetic classes."""

from __future__ import annotations

import pytest
import torch

from nc_core.data.split import Split, batches, stratified_subset
from nc_core.data.synthetic import synthetic_classes

# ---------------------------------------------------------------------------- Split


def test_split_rejects_mismatched_or_non_integer_labels():
    with pytest.raises(ValueError, match="3 samples"):
        Split(torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="float32"):
        Split(torch.zeros(3, 2), torch.zeros(3))


def test_split_len_num_classes_and_to():
    split = Split(torch.zeros(5, 2), torch.tensor([0, 3, 1, 3, 2]))
    moved = split.to("cpu")
    assert len(moved) == 5 and moved.num_classes == 4
    assert torch.equal(moved.y, split.y)


# ---------------------------------------------------------------------------- batches


def indexed_split(n: int) -> Split:
    """x[i] = (i, -i): a batch's x tells which samples it holds."""
    i = torch.arange(n, dtype=torch.float32)
    return Split(torch.stack([i, -i], dim=1), torch.arange(n) % 7)


def order_of(split: Split, batch_size: int, **kw) -> torch.Tensor:
    got = list(batches(split, batch_size, **kw))
    for x, y in got:
        assert torch.equal(split.y[x[:, 0].long()], y)  # x and y stay paired
    return torch.cat([x[:, 0] for x, _ in got]).long()


def test_batches_cover_every_sample_once_with_partial_last_batch():
    split = indexed_split(103)
    sizes = [len(y) for _, y in batches(split, 10, seed=3, epoch=1)]
    assert sizes == [10] * 10 + [3]
    assert torch.equal(order_of(split, 10, seed=3, epoch=1).sort().values, torch.arange(103))


def test_batches_order_repeats_for_same_seed_and_epoch_and_changes_otherwise():
    split = indexed_split(200)
    first = order_of(split, 16, seed=5, epoch=2)
    assert torch.equal(first, order_of(split, 16, seed=5, epoch=2))
    assert not torch.equal(first, order_of(split, 16, seed=5, epoch=3))
    assert not torch.equal(first, order_of(split, 16, seed=6, epoch=2))
    assert not torch.equal(first, torch.arange(200))


def test_batches_without_shuffle_give_natural_order():
    split = indexed_split(50)
    assert torch.equal(order_of(split, 1000, shuffle=False), torch.arange(50))
    assert torch.equal(order_of(split, 7, shuffle=False), torch.arange(50))


def test_batches_reject_bad_arguments_before_iterating():
    with pytest.raises(ValueError, match="batch_size=0"):
        batches(indexed_split(5), 0)
    with pytest.raises(ValueError, match="epoch=-1"):
        batches(indexed_split(5), 2, epoch=-1)


# ---------------------------------------------------------------------------- subsets


def test_stratified_subset_keeps_first_n_per_class_in_order():
    g = torch.Generator().manual_seed(0)
    y = torch.cat([torch.arange(4).repeat(5), torch.randint(0, 4, (60,), generator=g)])
    split = Split(torch.arange(len(y), dtype=torch.float32)[:, None], y)
    sub = stratified_subset(split, 5)
    seen = {k: 0 for k in range(4)}
    expected = []
    for i, k in enumerate(y.tolist()):  # brute force: walk once, keep while the class has room
        if seen[k] < 5:
            seen[k] += 1
            expected.append(i)
    assert sub.x[:, 0].long().tolist() == expected
    assert sub.y.bincount().tolist() == [5] * 4
    assert torch.equal(sub.y, y[expected])


def test_stratified_subset_names_the_short_class():
    split = Split(torch.zeros(7, 1), torch.tensor([0, 0, 0, 1, 2, 2, 2]))
    with pytest.raises(ValueError, match="class 1 has 1 samples"):
        stratified_subset(split, 2)


# ---------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("num_classes,dim", [(10, 32), (3, 3)])
def test_synthetic_classes_shapes_determinism_and_separability(num_classes, dim):
    train, test = synthetic_classes(num_classes, dim, 50, seed=7, spread=2.0)
    assert train.x.shape == (num_classes * 50, dim) and train.x.dtype == torch.float32
    assert test.x.shape == (num_classes * 10, dim) and test.y.dtype == torch.int64
    assert train.y.bincount().tolist() == [50] * num_classes
    again, _ = synthetic_classes(num_classes, dim, 50, seed=7, spread=2.0)
    assert torch.equal(train.x, again.x)
    other, _ = synthetic_classes(num_classes, dim, 50, seed=8, spread=2.0)
    assert not torch.equal(train.x, other.x)
    same_train, bigger_test = synthetic_classes(
        num_classes, dim, 50, seed=7, spread=2.0, n_test_per_class=30
    )
    assert torch.equal(same_train.x, train.x) and len(bigger_test) == num_classes * 30
    means = torch.stack([train.x[train.y == k].mean(0) for k in range(num_classes)])  # (K, D)
    nearest = torch.cdist(test.x, means).argmin(1)  # (N,)
    assert (nearest == test.y).float().mean() >= 0.95


def test_synthetic_classes_reject_bad_arguments():
    with pytest.raises(ValueError, match="dim=0"):
        synthetic_classes(3, 0, 5, seed=0)
    with pytest.raises(ValueError, match="spread=0"):
        synthetic_classes(3, 4, 5, seed=0, spread=0.0)
    _, test = synthetic_classes(3, 4, 2, seed=0)
    assert len(test) == 3  # n_per_class // 5 == 0 -> at least one per class
