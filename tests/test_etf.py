"""ETF layers: simplex geometry from norms and angles, fixed weights, model surgery, counts."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from nc_core.fixing.etf import (
    ETFLinear,
    count_parameters,
    freeze_in_place,
    freeze_to_etf,
    simplex_etf,
)

SHAPES = [(10, 400), (400, 400), (784, 400), (3, 2), (2, 3), (7, 5)]
KINDS = ["canonical", "rotated"]


def small_side(W: torch.Tensor) -> np.ndarray:
    """The k = min(rows, cols) vectors on the smaller side, as rows of a float64 array (k, n)."""
    A = W.double().numpy()
    return A if A.shape[0] <= A.shape[1] else A.T


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_small_side_vectors_are_unit_with_cosine_minus_one_over_k_minus_one(shape, kind):
    W = simplex_etf(*shape, kind=kind, seed=3)
    assert W.shape == shape
    V = small_side(W)  # (k, n)
    k = V.shape[0]
    norms = np.sqrt((V * V).sum(axis=1))
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    for i in range(k):
        for j in range(i + 1, min(k, i + 4)):  # a band of pairs keeps this fast for k = 400
            cos = V[i] @ V[j] / (norms[i] * norms[j])
            assert abs(cos + 1.0 / (k - 1)) < 1e-6, (i, j, cos)
    # the whole Gram at once: k/(k-1) (I - 1 1^T / k)
    gram = V @ V.T
    expected = k / (k - 1) * (np.eye(k) - np.ones((k, k)) / k)
    np.testing.assert_allclose(gram, expected, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_canonical_is_zero_outside_the_leading_k_by_k_block(shape):
    W = simplex_etf(*shape, kind="canonical")
    k = min(shape)
    outside = W.clone()
    outside[:k, :k] = 0
    assert torch.count_nonzero(outside) == 0
    # inside the block: the diagonal is sqrt((k-1)/k), off-diagonal -1/sqrt(k(k-1))
    block = W[:k, :k].double()
    torch.testing.assert_close(
        torch.diagonal(block), torch.full((k,), ((k - 1) / k) ** 0.5, dtype=torch.float64)
    )
    off = torch.tensor(-1.0 / (k * (k - 1)) ** 0.5, dtype=torch.float64)
    assert torch.allclose(block[0, 1], off)


@pytest.mark.parametrize("shape", SHAPES)
def test_rotated_has_k_minus_one_singular_values_sqrt_k_over_k_minus_one_and_one_zero(shape):
    W = simplex_etf(*shape, kind="rotated", seed=1).double().numpy()
    k, n = min(shape), max(shape)
    small = W @ W.T if shape[0] <= shape[1] else W.T @ W  # (k, k)
    eig = np.sort(np.linalg.eigvalsh(small))
    assert abs(eig[0]) < 1e-6
    np.testing.assert_allclose(eig[1:], k / (k - 1), atol=1e-5)
    # |W|_F^2 = trace of the large-side Gram (n, n): (k - 1) k / (k - 1) = k
    assert abs((W * W).sum() - k) < 1e-4
    if n > k:  # rotated really rotates: mass leaves the leading block
        assert np.abs(W).max() < 1.0 and np.count_nonzero(np.abs(W) > 1e-9) > k * k


def test_same_seed_is_bit_identical_and_different_seeds_differ():
    for kind in KINDS:
        a, b = (simplex_etf(10, 40, kind=kind, seed=5) for _ in range(2))
        assert torch.equal(a, b)
    assert not torch.allclose(
        simplex_etf(10, 40, kind="rotated", seed=5), simplex_etf(10, 40, kind="rotated", seed=6)
    )
    assert not torch.allclose(
        simplex_etf(40, 10, kind="rotated", seed=5), simplex_etf(40, 10, kind="rotated", seed=6)
    )


@pytest.mark.parametrize("shape", [(1, 10), (10, 1), (1, 1)])
def test_fewer_than_two_vectors_raises(shape):
    with pytest.raises(ValueError, match="k"):
        simplex_etf(*shape)


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="kind"):
        simplex_etf(4, 4, kind="random")
    with pytest.raises(ValueError, match="kind"):
        ETFLinear(4, 4, kind="random")
    with pytest.raises(ValueError, match="freeze"):
        ETFLinear(4, 4, kind="freeze")  # a frozen layer needs a weight to keep


def test_etf_linear_weight_is_a_buffer_not_a_parameter():
    layer = ETFLinear(16, 5, kind="rotated", seed=2)
    assert "weight" in dict(layer.named_buffers())
    assert "weight" in layer.state_dict()
    assert [n for n, _ in layer.named_parameters()] == ["bias"]
    assert not layer.weight.requires_grad
    torch.testing.assert_close(layer.weight, simplex_etf(5, 16, kind="rotated", seed=2))


def test_etf_linear_weight_survives_sgd_with_momentum_and_weight_decay_while_bias_trains():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), ETFLinear(16, 5, kind="canonical"))
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    w0, b0 = model[2].weight.clone(), model[2].bias.detach().clone()
    x, y = torch.randn(32, 8), torch.randint(0, 5, (32,))
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert torch.equal(model[2].weight, w0)
    assert not torch.allclose(model[2].bias, b0)


def test_to_float64_moves_the_buffer_and_state_dict_round_trips():
    layer = ETFLinear(6, 4, kind="rotated", seed=7)
    with torch.no_grad():
        layer.bias.copy_(torch.arange(4.0))
    layer = layer.to(torch.float64)
    assert layer.weight.dtype == torch.float64 and layer.bias.dtype == torch.float64
    out = layer(torch.ones(2, 6, dtype=torch.float64))
    assert out.dtype == torch.float64

    other = ETFLinear(6, 4, kind="rotated", seed=8).to(torch.float64)
    assert not torch.equal(other.weight, layer.weight)
    other.load_state_dict(layer.state_dict())
    assert torch.equal(other.weight, layer.weight) and torch.equal(other.bias, layer.bias)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["canonical", "rotated", "freeze"])
def test_from_linear_keeps_bias_shape_and_dtype(kind, dtype):
    torch.manual_seed(1)
    linear = nn.Linear(6, 4).to(dtype)
    with torch.no_grad():
        linear.bias.copy_(torch.tensor([1.0, -2.0, 3.0, 0.5]))
    layer = ETFLinear.from_linear(linear, kind=kind, seed=4)
    assert (layer.in_features, layer.out_features, layer.kind) == (6, 4, kind)
    assert layer.weight.shape == (4, 6) and layer.weight.dtype == dtype
    assert layer.bias.dtype == dtype and layer.bias.requires_grad
    assert torch.equal(layer.bias.detach(), linear.bias.detach())
    assert layer.bias.data_ptr() != linear.bias.data_ptr()
    if kind == "freeze":
        assert torch.equal(layer.weight, linear.weight.detach())
        with torch.no_grad():
            linear.weight.add_(1.0)  # the frozen copy does not follow the original
        assert not torch.equal(layer.weight, linear.weight.detach())
    else:
        torch.testing.assert_close(layer.weight, simplex_etf(4, 6, kind=kind, seed=4).to(dtype))


def test_from_linear_without_bias():
    layer = ETFLinear.from_linear(nn.Linear(6, 4, bias=False))
    assert layer.bias is None
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), x @ simplex_etf(4, 6).T)


def nested_model() -> nn.Module:
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
    return nn.Sequential(OrderedDict(body=body, head=nn.Linear(8, 3)))


def brute_forward(x, W0, b0, W2, b2, Wh, bh):
    h = torch.relu(x @ W0.T + b0)
    h = torch.relu(h @ W2.T + b2)
    return h @ Wh.T + bh


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind", KINDS)
def test_freeze_to_etf_replaces_dotted_layer_and_leaves_the_others(kind):
    model = nested_model()
    before = snapshot(model)
    others = [model.body[0], model.body[1], model.body[3], model.head]
    x = torch.randn(7, 5)

    new = freeze_to_etf(model, "body.2", kind=kind, seed=9)
    assert model.body[2] is new and isinstance(new, ETFLinear) and new.kind == kind
    assert [model.body[0], model.body[1], model.body[3], model.head] == others
    after = snapshot(model)
    for key in ["body.0.weight", "body.0.bias", "head.weight", "head.bias", "body.2.bias"]:
        assert torch.equal(after[key], before[key]), key

    W2 = simplex_etf(8, 8, kind=kind, seed=9)
    expected = brute_forward(
        x,
        before["body.0.weight"],
        before["body.0.bias"],
        W2,
        before["body.2.bias"],
        before["head.weight"],
        before["head.bias"],
    )
    torch.testing.assert_close(model(x), expected)


def test_freeze_to_etf_at_top_level_name():
    model = nested_model()
    before = snapshot(model)
    freeze_to_etf(model, "head")
    assert isinstance(model.head, ETFLinear)
    x = torch.randn(4, 5)
    expected = brute_forward(
        x,
        before["body.0.weight"],
        before["body.0.bias"],
        before["body.2.weight"],
        before["body.2.bias"],
        simplex_etf(3, 8),
        before["head.bias"],
    )
    torch.testing.assert_close(model(x), expected)


def test_freeze_in_place_keeps_the_trained_weight_and_the_output():
    model = nested_model()
    x = torch.randn(6, 5)
    out_before = model(x).detach()
    w = model.body[2].weight.detach().clone()
    new = freeze_in_place(model, "body.2")
    assert model.body[2] is new and new.kind == "freeze"
    assert torch.equal(new.weight, w)
    assert "body.2.weight" not in dict(model.named_parameters())
    torch.testing.assert_close(model(x), out_before, rtol=0, atol=0)


def test_freezing_a_non_linear_or_a_fixed_layer_raises():
    model = nested_model()
    with pytest.raises(ValueError, match="ReLU"):
        freeze_to_etf(model, "body.1")
    freeze_to_etf(model, "body.2")
    with pytest.raises(ValueError, match="already fixed"):
        freeze_to_etf(model, "body.2")
    with pytest.raises(ValueError, match="already fixed"):
        freeze_in_place(model, "body.2")


def test_count_parameters_by_formula_before_and_after_fixing_layers():
    dims = [20, 32, 16, 5]
    layers = []
    for i, o in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(i, o), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])  # linears at 0, 2, 4
    total = sum(o * i + o for i, o in zip(dims[:-1], dims[1:], strict=True))
    assert count_parameters(model) == (total, total)

    freeze_to_etf(model, "2")  # 32 -> 16
    assert count_parameters(model) == (total - 16 * 32, total)
    freeze_in_place(model, "4")  # 16 -> 5
    assert count_parameters(model) == (total - 16 * 32 - 5 * 16, total)

    model[0].bias.requires_grad_(False)  # a frozen Parameter still counts toward the total
    assert count_parameters(model) == (total - 16 * 32 - 5 * 16 - 32, total)
