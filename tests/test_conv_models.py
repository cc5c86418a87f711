"""The convolutional networks (resnet18, vgg11_bn, resnet_mlp): parameter counts by formula,
padding 28x28 inputs to 32x32, what their adapters measure (pooled conv features) and fix (convs
and linears), training with fixed convs, and their presets."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nc_core.data.split import Split
from nc_core.fixing.etf import FIXED_LAYERS, count_parameters
from nc_core.measure.taps import LayerTap
from nc_core.models import BuildContext, get_model
from nc_core.models.conv_parts import PadTo, pooled
from nc_core.train.build import fix_layer
from nc_core.train.loop import train
from nc_core.train.presets import preset

CONV_MODELS = ("resnet18", "vgg11_bn", "resnet_mlp")


def conv(cin: int, cout: int, k: int, bias: bool = False) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def basic_block(cin: int, cout: int, stride: int) -> int:
    n = conv(cin, cout, 3) + bn(cout) + conv(cout, cout, 3) + bn(cout)
    if stride != 1 or cin != cout:
        n += conv(cin, cout, 1) + bn(cout)
    return n


def resnet18_params(channels: int, K: int) -> int:
    n = conv(channels, 64, 3) + bn(64)
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for b in range(2):
            n += basic_block(cin, cout, 2 if stage and not b else 1)
            cin = cout
    return n + 512 * K + K


def vgg11_params(channels: int, K: int, width: int, head: int) -> int:
    n, cin = 0, channels
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if v == "M":
            continue
        cout = v * width // 64
        n += conv(cin, cout, 3, bias=True) + bn(cout)
        cin = cout
    return n + (cin * head + head) + (head * head + head) + (head * K + K)


def resnet_mlp_params(channels, K, base, blocks, depth, width, batch_norm=True) -> int:
    widths = [base, 2 * base, 4 * base]
    n = conv(channels, base, 3) + bn(base)
    cin = base
    for s, cout in enumerate(widths):
        for b in range(blocks):
            n += basic_block(cin, cout, 2 if s and not b else 1)
            cin = cout
    d = 4 * base
    for _ in range(depth - 1):
        n += d * width + width + (bn(width) if batch_norm else 0)
        d = width
    return n + width * K + K


def build(name: str, shape=(3, 32, 32), K: int = 10, **options):
    entry = get_model(name)
    opts = entry.options(**options)
    model = entry.build(opts, BuildContext(shape, K))
    return model, entry.adapter(model, opts), opts


@pytest.mark.parametrize("channels,K", [(3, 10), (1, 10), (3, 100)])
def test_resnet18_parameters_by_formula_and_against_torchvisions(channels, K):
    model, _, _ = build("resnet18", (channels, 32, 32), K)
    assert count_parameters(model) == (resnet18_params(channels, K),) * 2
    reference = torchvision.models.resnet18(weights=None, num_classes=K)
    stems = conv(3, 64, 7) - conv(channels, 64, 3)  # the ImageNet stem against the CIFAR one
    assert count_parameters(model)[0] == count_parameters(reference)[0] - stems
    assert isinstance(model.maxpool, nn.Identity) and model.conv1.stride == (1, 1)
    assert model.conv1.in_channels == channels and model.conv1.kernel_size == (3, 3)


@pytest.mark.parametrize(
    "channels,K,width,head", [(3, 10, 64, 512), (1, 10, 8, 32), (3, 100, 16, 128)]
)
def test_vgg11_bn_parameters_by_formula(channels, K, width, head):
    model, _, _ = build("vgg11_bn", (channels, 32, 32), K, width=width, head_width=head)
    assert count_parameters(model) == (vgg11_params(channels, K, width, head),) * 2
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d)


def test_vgg11_bn_at_full_width_is_torchvisions_features_with_a_smaller_head():
    model, _, _ = build("vgg11_bn")
    reference = torchvision.models.vgg11_bn(weights=None)
    ours = sum(p.numel() for p in model.features.parameters())
    theirs = sum(p.numel() for p in reference.features.parameters())
    assert ours == theirs
    assert [type(m) for m in model.features] == [type(m) for m in reference.features]


@pytest.mark.parametrize(
    "channels,K,base,blocks,depth,width,batch_norm",
    [(3, 10, 16, 3, 4, 256, True), (1, 10, 8, 1, 3, 32, False), (3, 100, 4, 2, 2, 128, True)],
)
def test_resnet_mlp_parameters_by_formula(channels, K, base, blocks, depth, width, batch_norm):
    model, adapter, _ = build(
        "resnet_mlp",
        (channels, 32, 32),
        K,
        base_width=base,
        blocks=blocks,
        head_depth=depth,
        head_width=width,
        head_batch_norm=batch_norm,
    )
    expected = resnet_mlp_params(channels, K, base, blocks, depth, width, batch_norm)
    assert count_parameters(model) == (expected, expected)
    assert len(adapter.layers) == 1 + 3 * blocks + depth


def test_pad_to_32_centres_the_image_and_replicates_its_border():
    x = torch.arange(2 * 28 * 28, dtype=torch.float32).reshape(2, 1, 28, 28)
    y = PadTo(32)(x)
    assert y.shape == (2, 1, 32, 32)
    torch.testing.assert_close(y[:, :, 2:30, 2:30], x, rtol=0, atol=0)
    torch.testing.assert_close(y[:, :, 0, 2:30], x[:, :, 0], rtol=0, atol=0)
    torch.testing.assert_close(y[:, :, 31, 31], x[:, :, 27, 27], rtol=0, atol=0)
    same = torch.randn(1, 3, 32, 32)
    assert PadTo(32)(same) is same


@pytest.mark.parametrize("name", CONV_MODELS)
def test_28x28_inputs_are_padded_so_they_give_what_their_32x32_padding_gives(name):
    model, _, _ = build(name, (1, 28, 28), **({} if name == "resnet18" else smoke(name)))
    model.eval()
    x = torch.randn(3, 1, 28, 28)
    padded = nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    torch.testing.assert_close(model(x), model(padded), rtol=0, atol=0)


def smoke(name: str) -> dict:
    return dict(get_model(name).presets.get("smoke", {}))


def test_pooled_averages_conv_maps_and_flattens_the_rest():
    x = torch.randn(4, 3, 5, 6)
    torch.testing.assert_close(pooled(x), x.mean(dim=(2, 3)))
    assert pooled(torch.randn(4, 7)).shape == (4, 7)


@pytest.mark.parametrize("name", CONV_MODELS)
def test_adapter_taps_pooled_features_of_every_stage_and_head_layer(name):
    model, adapter, _ = build(name, (3, 32, 32), **({} if name == "resnet18" else smoke(name)))
    modules = dict(model.named_modules())
    assert adapter.reduce is pooled
    for layer in adapter.layers:
        for fixed in adapter.linears_of(layer):
            assert isinstance(modules[fixed], nn.Conv2d | nn.Linear), (layer, fixed)
    for module in (*adapter.activations.values(), adapter.penultimate):
        assert module in modules
    model.eval()
    names = [*adapter.layers, adapter.penultimate]
    with torch.no_grad(), LayerTap(model, names, reduce=adapter.reduce) as tap:
        model(torch.randn(2, 3, 32, 32))
    for layer in adapter.layers:
        assert tap.outputs[layer].dim() == 2 and tap.outputs[layer].shape[0] == 2
    classifier = modules[adapter.classifier]
    assert tap.outputs[adapter.penultimate].shape == (2, classifier.in_features)
    assert tap.outputs[adapter.classifier].shape == (2, 10)


def test_what_adaptive_etf_may_fix_in_each_network():
    _, a, _ = build("resnet18")
    assert a.layers[0] == "relu" and a.input_layer == "relu" and a.classifier == "fc"
    assert a.fixable(fix_input=False) == [
        *[f"layer{s}.{b}" for s in range(1, 5) for b in (0, 1)],
        "fc",
    ]
    assert a.linears_of("layer2.0") == ("layer2.0.conv1", "layer2.0.conv2", "layer2.0.downsample.0")
    _, a, _ = build("resnet_mlp")
    assert a.fixable(fix_input=False) == ["fc1", "fc2", "fc3", "classifier"]  # the head only
    assert len([n for n in a.layers if n.startswith("layer")]) == 9  # ResNet-20: 3 x 3 blocks
    _, a, _ = build("vgg11_bn", width=8, head_width=32)
    assert a.input_layer == "features.2" and len(a.layers) == 8 + 3
    assert a.fixable(fix_input=False)[0] == "features.6"
    assert a.linears_of("features.6") == ("features.4",)


@pytest.mark.parametrize(
    "name,kind",
    [
        ("resnet18", "freeze"),
        ("vgg11_bn", "rotated"),
        ("resnet_mlp", "rotated"),
        ("resnet_mlp", "freeze"),
    ],
)
def test_fixing_every_fixable_layer_keeps_the_model_running_and_counts_by_formula(name, kind):
    model, adapter, _ = build(name, (1, 28, 28), **({} if name == "resnet18" else smoke(name)))
    trainable, total = count_parameters(model)
    fixed_weights = 0
    for layer in adapter.fixable(fix_input=True):
        for module in adapter.linears_of(layer):
            fixed_weights += model.get_submodule(module).weight.numel()
        fix_layer(model, adapter, layer, kind, seed=0)
    assert count_parameters(model) == (trainable - fixed_weights, total)
    for layer in adapter.fixable(fix_input=True):
        assert all(
            isinstance(model.get_submodule(m), FIXED_LAYERS) for m in adapter.linears_of(layer)
        )
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def image_data(K: int = 4, per_class: int = 6, shape=(3, 32, 32), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(K).repeat_interleave(per_class)
    x = torch.randn(len(y), *shape, generator=g) * 0.3
    for i, k in enumerate(y.tolist()):
        x[i, k % shape[0], : 3 * (k + 1), :4] += 2.0  # a bar whose colour and length is the class
    return Split(x, y), Split(x[::2].clone(), y[::2].clone())


def test_static_etf_on_resnet18_fixes_blocks_to_conv_frames_and_trains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./data: nothing to read for the dataset named
    cfg = preset(
        "smoke",
        model="resnet18",
        dataset="cifar10",
        policy="static",
        fix_from=8,  # layer4.1 and fc (index 0 is the stem)
        kind="rotated",
        epochs=1,
        subset=None,
        nc_samples=None,
        batch_size=12,
    )
    result = train(cfg, data=image_data(K=10, per_class=2))
    (record,) = result.records
    model = build("resnet18")[0]
    fixed = sum(m.weight.numel() for m in model.layer4[1].modules() if isinstance(m, nn.Conv2d))
    assert record.trainable_params == resnet18_params(3, 10) - fixed - 512 * 10
    assert record.fixed_layers == ["layer4.1", "fc"]
    assert record.layers["layer4.1"].fixed_as == "rotated"


def test_adaptive_etf_on_resnet_mlp_fixes_head_layers_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = preset(
        "smoke",
        model="resnet_mlp",
        dataset="cifar10",
        policy="adaptive",
        eps=1.0,  # every layer qualifies at once: only the head may be fixed
        patience=1,
        kind="orthogonal",
        epochs=2,
        subset=None,
        nc_samples=None,
        batch_size=8,
    )
    result = train(cfg, data=image_data(K=10, per_class=2))
    first, second = result.records
    assert first.fixed_at_end == ["fc1", "fc2", "classifier"]
    assert second.fixed_layers == ["fc1", "fc2", "classifier"]
    backbone = [n for n in second.layers if n == "relu" or n.startswith("layer")]
    assert len(backbone) == 1 + 3 and all(second.layers[n].fixed_as == "" for n in backbone)


@pytest.mark.parametrize("name", CONV_MODELS)
def test_smoke_preset_with_any_model_gives_that_models_smoke_size(name):
    cfg = preset("smoke", model=name, dataset="cifar10")
    assert cfg.model == name and cfg.epochs == 3 and cfg.subset == 100
    for key, value in smoke(name).items():
        assert getattr(cfg.arch, key) == value


@pytest.mark.parametrize(
    "name,model,dataset,epochs",
    [
        ("cifar10-resnet18", "resnet18", "cifar10", 200),
        ("cifar100-resnet18", "resnet18", "cifar100", 200),
        ("cifar10-resnet-mlp", "resnet_mlp", "cifar10", 350),
    ],
)
def test_gpu_presets_name_their_network_data_and_recipe(name, model, dataset, epochs):
    cfg = preset(name)
    assert (cfg.model, cfg.dataset, cfg.epochs) == (model, dataset, epochs)
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == ("sgd", 0.1, 0.9, 5e-4)
    assert cfg.schedule == ("cosine" if model == "resnet18" else "multistep")


def test_canonical_classifier_narrower_than_k_is_refused_before_building():
    with pytest.raises(ValueError, match="resnet_mlp_head_width=32"):
        preset("smoke", model="resnet_mlp", dataset="cifar100", kind="canonical")
    with pytest.raises(ValueError, match="needs images"):
        preset("smoke", model="vgg11_bn", dataset="synthetic")
