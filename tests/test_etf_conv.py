"""Fixing convolutions (`ETFConv2d`, `freeze_to_etf` on an nn.Conv2d): the weight reshaped to
(C_out, C_in * k * k) is the kind's frame, the conv's geometry and bias are kept, the weight is a
buffer counted in the total but not the trainable parameters, and the optimizer loses it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nc_core.fixing.etf import (
    ETFConv2d,
    conv_frame,
    count_parameters,
    freeze_in_place,
    freeze_to_etf,
    simplex_etf,
)
from nc_core.train.build import build_optimizer, rebuild_optimizer
from nc_core.train.config import RunConfig


def simplex_gram(k: int) -> torch.Tensor:
    """The Gram of k unit vectors with pairwise cosine -1/(k-1)."""
    return (torch.eye(k) * k - 1) / (k - 1)


@pytest.mark.parametrize(
    "shape",
    [(16, 8, 3, 3), (64, 3, 3, 3), (4, 2, 1, 1), (128, 64, 1, 1), (8, 8, 3, 3)],
    ids=["wide-3x3", "tall-stem", "tall-1x1", "tall-down", "wide-square-channels"],
)
@pytest.mark.parametrize("kind", ["canonical", "rotated"])
def test_reshaped_conv_weight_gram_of_the_smaller_side_is_the_simplex_etf_gram(shape, kind):
    W = conv_frame(shape, kind=kind, seed=3).reshape(shape[0], -1).double()  # (C_out, C_in k k)
    rows, cols = W.shape
    gram = W @ W.T if rows <= cols else W.T @ W  # (k, k)
    torch.testing.assert_close(gram, simplex_gram(min(rows, cols)).double(), atol=1e-6, rtol=0)


def test_conv_frame_is_the_linear_frame_of_the_reshaped_shape():
    shape = (6, 4, 3, 3)
    torch.testing.assert_close(
        conv_frame(shape, kind="rotated", seed=5).reshape(6, 36),
        simplex_etf(6, 36, kind="rotated", seed=5),
        rtol=0,
        atol=0,
    )


def test_orthogonal_conv_frame_has_orthonormal_rows_at_the_etf_scale():
    W = conv_frame((8, 4, 3, 3), kind="orthogonal", seed=1).reshape(8, 36).double()
    torch.testing.assert_close(W @ W.T, torch.eye(8, dtype=torch.float64), atol=1e-6, rtol=0)
    etf = simplex_etf(8, 36, kind="canonical").double()
    assert math.isclose(float(W.norm()), float(etf.norm()), rel_tol=1e-6)


@pytest.mark.parametrize("kind", ["canonical", "rotated", "orthogonal", "freeze"])
def test_fixed_conv_keeps_geometry_and_bias_and_its_weight_is_a_buffer(kind):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    x = torch.randn(2, 3, 9, 9)
    conv = model[0]
    before, bias = model(x), conv.bias
    w = conv.weight.detach().clone()
    new = freeze_to_etf(model, "0", kind=kind, seed=2)
    assert isinstance(new, ETFConv2d) and model[0] is new and new.kind == kind
    assert new.bias is bias  # the same Parameter: its momentum survives
    assert "0.weight" not in dict(model.named_parameters()) and "0.weight" in model.state_dict()
    assert (new.stride, new.padding) == ((2, 2), (1, 1))
    expected = w if kind == "freeze" else conv_frame((8, 3, 3, 3), kind=kind, seed=2)
    torch.testing.assert_close(new.weight, expected, rtol=0, atol=0)
    out = model(x)
    assert out.shape == before.shape == (2, 4, 5, 5)
    if kind == "freeze":
        torch.testing.assert_close(out, before, rtol=0, atol=0)
    reference = nn.functional.conv2d(x, expected, bias, stride=2, padding=1)
    torch.testing.assert_close(model[0](x), reference)


def test_freeze_in_place_and_refusals_for_convs():
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, bias=False), nn.Conv2d(4, 4, 3, padding_mode="reflect", padding=1)
    )
    freeze_in_place(model, "0")
    assert model[0].bias is None and model[0].kind == "freeze"
    with pytest.raises(ValueError, match="already fixed"):
        freeze_to_etf(model, "0")
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        freeze_to_etf(model, "1")
    with pytest.raises(ValueError, match="needs the weight"):
        ETFConv2d(2, 4, (3, 3), kind="freeze")
    with pytest.raises(ValueError, match="groups=3"):
        ETFConv2d(4, 4, (3, 3), groups=3)


def test_grouped_conv_is_fixed_over_its_per_group_matrix():
    conv = nn.Conv2d(4, 6, 3, groups=2, padding=1)
    new = ETFConv2d.from_conv(conv, kind="rotated", seed=0)
    assert new.weight.shape == (6, 2, 3, 3)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(
        new(x), nn.functional.conv2d(x, new.weight, new.bias, padding=1, groups=2)
    )


def test_count_parameters_and_optimizer_after_fixing_convs_by_formula():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3), nn.Flatten()
    )
    conv1, bn, conv2 = 3 * 8 * 9, 2 * 8, 8 * 8 * 9 + 8
    assert count_parameters(model) == (conv1 + bn + conv2, conv1 + bn + conv2)
    cfg = RunConfig.of(optimizer="sgd", lr=0.1)
    opt = build_optimizer(cfg, model)
    model(torch.randn(2, 3, 7, 7)).sum().backward()
    opt.step()
    freeze_to_etf(model, "2", kind="rotated")
    assert count_parameters(model) == (conv1 + bn + 8, conv1 + bn + conv2)
    opt = rebuild_optimizer(cfg, model, opt)
    params = {id(p) for g in opt.param_groups for p in g["params"]}
    assert id(model[2].bias) in params and len(params) == 4  # conv1.w, bn.w, bn.b, conv2.b
    assert model[2].bias in opt.state  # momentum carried over
    freeze_to_etf(model, "0", kind="canonical")
    assert count_parameters(model) == (bn + 8, conv1 + bn + conv2)
