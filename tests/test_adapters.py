"""Adding a model is its file and its adapter: the README's SmallCNN example, at smoke size."""

import contextlib

import torch
import torch.nn.functional as F

from nc_core.data.split import Split, batches
from nc_core.fixing.etf import ETFLinear, count_parameters
from nc_core.fixing.policy import AdaptiveETF
from nc_core.measure.evaluate import evaluate
from nc_core.models.cnn import SmallCNN, cnn_adapter
from nc_core.train.build import fix_layer


def test_a_small_cnn_is_measured_and_its_head_fixed_through_its_adapter_alone():
    torch.manual_seed(0)
    K = 4
    x = torch.randn(K, 1, 28, 28).repeat(12, 1, 1, 1) + 0.1 * torch.randn(12 * K, 1, 28, 28)
    split = Split(x, torch.arange(K).repeat(12))
    model = SmallCNN(width=16, num_classes=K)
    adapter = cnn_adapter(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(30):
        for xb, yb in batches(split, 16, seed=0, epoch=epoch):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    ev = evaluate(model, adapter, split, split, num_classes=K, autocast=contextlib.nullcontext)
    assert list(ev.layers) == ["conv2", "fc1", "fc2", "classifier"]
    assert ev.layers["classifier"].train_ncc_acc > 0.9 and ev.test_acc > 0.9  # chance: 0.25
    assert 0 <= ev.layers["conv2"].dead_units <= 1 and ev.layers["fc1"].cdnv > 0

    policy = AdaptiveETF(0.1, patience=1, kind="rotated", layers=adapter.fixable(fix_input=False))
    errors = {n: 1.0 - r.train_ncc_acc for n, r in ev.layers.items()}
    fixed = policy.decide(errors, 3)
    assert fixed and "conv2" not in fixed  # convolutions are never fixable
    trainable_before, total = count_parameters(model)
    for layer in fixed:
        fix_layer(model, adapter, layer, "rotated", seed=0)
        assert isinstance(model.get_submodule(layer), ETFLinear)
    trainable_after, total_after = count_parameters(model)
    removed = sum(model.get_submodule(n).weight.numel() for n in fixed)
    assert (trainable_before - trainable_after, total_after) == (removed, total)
