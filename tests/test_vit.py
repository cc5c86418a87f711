"""ViT: shapes, block specs, ETF injection, parameter counts and the NC-measurement interface."""

import itertools

import pytest
import torch
from torch import nn

from nc_core.fixing.etf import ETFLinear, freeze_to_etf, layer_seed
from nc_core.models.vit import ViT
from nc_core.models.vit_fixing import ViTOptions, ffn_linear_names, parse_blocks, vit_adapter

SMALL = dict(
    image_size=28, patch_size=7, channels=1, dim=16, depth=3, heads=2, mlp_ratio=2, num_classes=5
)


def fixed_vit(names, *, kind: str, seed: int, **cfg) -> ViT:
    """A ViT with the linears `names` fixed as `kind`, as the ViT's registered builder does."""
    model = ViT(**cfg)
    for name in names:
        freeze_to_etf(model, name, kind=kind, seed=layer_seed(name, seed))
    return model


def all_etf_vit(kind: str = "canonical", seed: int = 0, **overrides) -> ViT:
    cfg = {**SMALL, **overrides}
    names = ffn_linear_names(parse_blocks("all", cfg["depth"]), "both")
    return fixed_vit(names, kind=kind, seed=seed, **cfg)


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("B", [1, 4])
def test_forward_gives_logits_of_shape_batch_by_classes(B):
    torch.manual_seed(0)
    logits = ViT(**SMALL)(torch.randn(B, 1, 28, 28))
    assert logits.shape == (B, SMALL["num_classes"])
    assert torch.isfinite(logits).all()


def test_forward_rejects_wrong_image_size():
    with pytest.raises(ValueError, match="32"):
        ViT(**SMALL)(torch.randn(2, 1, 32, 32))


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("none", []),
        ("all", [0, 1, 2, 3, 4, 5]),
        ("last:2", [4, 5]),
        ("first:1", [0]),
        ("first:6", [0, 1, 2, 3, 4, 5]),
        ("0,2,5", [0, 2, 5]),
        ("5, 0", [0, 5]),
        ("3", [3]),
    ],
)
def test_parse_blocks_resolves_spec_to_sorted_indices(spec, expected):
    assert parse_blocks(spec, 6) == expected


@pytest.mark.parametrize(
    "spec", ["", "some", "last:0", "last:7", "first:x", "mid:2", "0,6", "-1", "1,,2", "last:-1"]
)
def test_parse_blocks_names_invalid_spec(spec):
    with pytest.raises(ValueError, match="etf_blocks"):
        parse_blocks(spec, 6)


def test_ffn_linear_names_selects_fc1_fc2_or_both():
    assert ffn_linear_names([1], "fc1") == ["blocks.1.ffn.fc1"]
    assert ffn_linear_names([0, 2], "fc2") == ["blocks.0.ffn.fc2", "blocks.2.ffn.fc2"]
    assert ffn_linear_names([3], "both") == ["blocks.3.ffn.fc1", "blocks.3.ffn.fc2"]
    with pytest.raises(ValueError, match="fc3"):
        ffn_linear_names([0], "fc3")


@pytest.mark.parametrize(
    "bad, numbers",
    [
        (dict(image_size=28, patch_size=5), "28.*5"),
        (dict(dim=18, heads=4), "18.*4"),
        (dict(depth=0), "depth=0"),
        (dict(heads=0), "heads=0"),
        (dict(mlp_ratio=0), "mlp_ratio=0"),
        (dict(num_classes=1), "num_classes=1"),
        (dict(dropout=1.0), "dropout=1.0"),
    ],
)
def test_invalid_shapes_raise_value_error_naming_the_numbers(bad, numbers):
    with pytest.raises(ValueError, match=numbers):
        ViT(**{**SMALL, **bad})


def test_factory_is_called_once_per_feedforward_linear_with_its_dotted_name():
    calls = []

    def factory(name, in_features, out_features):
        calls.append((name, in_features, out_features))
        return nn.Linear(in_features, out_features)

    model = ViT(**SMALL, linear_factory=factory)
    d, h = SMALL["dim"], SMALL["mlp_ratio"] * SMALL["dim"]
    expected = [
        (f"blocks.{i}.ffn.{fc}", *io)
        for i in range(SMALL["depth"])
        for fc, io in (("fc1", (d, h)), ("fc2", (h, d)))
    ]
    assert calls == expected
    for name, _, _ in calls:
        assert model.get_submodule(name) is not None


@pytest.mark.parametrize("kind", ["canonical", "rotated", "freeze"])
def test_all_etf_feedforward_removes_exactly_the_ffn_weights_from_trainable_params(kind):
    torch.manual_seed(0)
    baseline = ViT(**SMALL)
    total = sum(p.numel() for p in baseline.parameters())
    assert trainable(baseline) == total
    D, r, depth = SMALL["dim"], SMALL["mlp_ratio"], SMALL["depth"]
    assert trainable(all_etf_vit(kind)) == total - depth * 2 * D * (r * D)


def test_fixed_weight_is_bit_identical_after_adamw_steps_while_the_rest_trains():
    torch.manual_seed(0)
    names = set(ffn_linear_names([1], "both"))
    model = fixed_vit(names, kind="rotated", seed=3, **SMALL)
    fixed = model.get_submodule("blocks.1.ffn.fc1")
    assert isinstance(fixed, ETFLinear)
    w0, b0 = fixed.weight.clone(), fixed.bias.detach().clone()
    qkv0 = model.blocks[1].attn.qkv.weight.detach().clone()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    for _ in range(3):
        x, y = torch.randn(8, 1, 28, 28), torch.randint(0, SMALL["num_classes"], (8,))
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(fixed.weight, w0)
    assert not torch.equal(model.blocks[1].attn.qkv.weight, qkv0)
    assert not torch.equal(fixed.bias, b0)


def test_etf_weights_are_buffers_and_not_reinitialised():
    model = all_etf_vit("canonical")
    names = {n for n, _ in model.named_buffers()}
    assert "blocks.0.ffn.fc1.weight" in names
    assert "blocks.0.ffn.fc1.weight" not in dict(model.named_parameters())
    fc1 = model.get_submodule("blocks.0.ffn.fc1")
    D = SMALL["dim"]
    expected = ETFLinear(D, SMALL["mlp_ratio"] * D, kind="canonical").weight
    torch.testing.assert_close(fc1.weight, expected, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["canonical", "rotated"])
@pytest.mark.parametrize("mlp_ratio", [1, 2])
def test_etf_feedforward_vectors_on_smaller_side_have_cosine_minus_one_over_k_minus_one(
    kind, mlp_ratio
):
    model = all_etf_vit(kind, mlp_ratio=mlp_ratio)
    for i, fc in itertools.product(range(SMALL["depth"]), ("fc1", "fc2")):
        W = model.get_submodule(f"blocks.{i}.ffn.{fc}").weight.double()  # (out, in)
        V = W if W.shape[0] <= W.shape[1] else W.T  # (k, n): the k vectors on the smaller side
        k = V.shape[0]
        V = V / V.norm(dim=1, keepdim=True)
        expected = torch.full((k, k), -1.0 / (k - 1), dtype=torch.float64).fill_diagonal_(1.0)
        torch.testing.assert_close(V @ V.T, expected, atol=1e-6, rtol=0)


def test_rotated_etfs_differ_by_layer_name_and_repeat_for_the_same_seed():
    a, b = all_etf_vit("rotated", seed=1), all_etf_vit("rotated", seed=1)
    fc2_0, fc2_1 = (a.get_submodule(f"blocks.{i}.ffn.fc2").weight for i in (0, 1))
    assert not torch.equal(fc2_0, fc2_1)
    assert torch.equal(fc2_0, b.get_submodule("blocks.0.ffn.fc2").weight)
    assert layer_seed("blocks.0.ffn.fc2", 1) == layer_seed("blocks.0.ffn.fc2", 0) + 1


def test_freeze_kind_from_start_is_a_fixed_random_layer_not_an_etf():
    model = all_etf_vit("freeze", seed=0)
    fc2 = model.get_submodule("blocks.0.ffn.fc2")
    assert isinstance(fc2, ETFLinear) and fc2.kind == "freeze"
    assert 0.01 < fc2.weight.std().item() < 0.03  # the trunc-normal(.02) init the others start at
    V = fc2.weight / fc2.weight.norm(dim=1, keepdim=True)  # (D, hidden): D rows on smaller side
    off_diagonal = (V @ V.T)[~torch.eye(V.shape[0], dtype=torch.bool)]
    assert off_diagonal.std() > 0.05  # random directions, not the equal cosines of an ETF


def test_adapter_layers_and_linears_of_resolve_to_submodules():
    model = ViT(**SMALL)
    adapter = vit_adapter(model, ViTOptions(etf_linears="fc2"))
    assert adapter.layers == tuple(f"blocks.{i}" for i in range(SMALL["depth"])) + ("head",)
    assert adapter.layers[-1] == adapter.classifier == "head"
    for layer in adapter.layers:
        model.get_submodule(layer)
        for name in adapter.linears_of(layer):
            assert isinstance(model.get_submodule(name), nn.Linear)
    assert adapter.linears_of("blocks.2") == ("blocks.2.ffn.fc2",)
    assert adapter.linears_of("head") == ("head",)
    assert vit_adapter(model).linears_of("blocks.0") == ("blocks.0.ffn.fc1", "blocks.0.ffn.fc2")
    assert isinstance(model.get_submodule(adapter.penultimate), nn.LayerNorm)
    assert "head" not in adapter.fixable(fix_input=False)  # Adaptive-ETF fixes blocks only
    for module in adapter.activations.values():
        assert isinstance(model.get_submodule(module), nn.GELU)
    with pytest.raises(ValueError, match="blocks.9"):
        adapter.linears_of("blocks.9")


def test_tapped_nc_layers_reduce_to_batch_by_features():
    torch.manual_seed(0)
    model, B = ViT(**SMALL).eval(), 3
    adapter = vit_adapter(model)
    taps = {}
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: taps.__setitem__(name, adapter.reduce(out))
        )
        for name in (*adapter.layers, adapter.penultimate)
    ]
    try:
        logits = model(torch.randn(B, 1, 28, 28))
    finally:
        for h in handles:
            h.remove()
    for i in range(SMALL["depth"]):
        assert taps[f"blocks.{i}"].shape == (B, SMALL["dim"])
    assert taps["head"].shape == (B, SMALL["num_classes"])
    # the reduced penultimate output is exactly the classifier's input
    torch.testing.assert_close(model.head(taps["norm"]), logits)
    torch.testing.assert_close(taps["head"], logits)
