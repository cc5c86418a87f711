"""The ViT's `freeze` arm is the baseline's initialisation kept: with `--etf-blocks`, each fixed
feedforward weight is exactly the tensor the baseline of the same seed starts from, so freeze
against the baseline measures fixing alone."""

import pytest
import torch

from nc_core.fixing.etf import ETFLinear
from nc_core.models.vit_fixing import ffn_linear_names, parse_blocks
from nc_core.train.build import build_model
from nc_core.train.presets import preset

IMAGE = (1, 28, 28)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("blocks, linears", [("all", "both"), ("last:1", "fc1")])
def test_frozen_feedforward_weights_are_the_baselines_initial_tensors(seed, blocks, linears):
    cfg = preset("vit-smoke", seed=seed)
    base = build_model(cfg, input_shape=IMAGE)
    frozen = build_model(
        cfg.replace(etf_blocks=blocks, etf_linears=linears, kind="freeze"), input_shape=IMAGE
    )
    names = ffn_linear_names(parse_blocks(blocks, cfg.arch.depth), linears)
    assert names
    for name in names:
        layer = frozen.get_submodule(name)
        assert isinstance(layer, ETFLinear) and layer.kind == "freeze"
        assert torch.equal(layer.weight, base.get_submodule(name).weight.detach())
    shared = dict(base.named_parameters())  # every other initial tensor is shared too
    for key, value in frozen.named_parameters():
        assert torch.equal(value, shared[key]), key
