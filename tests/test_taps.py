"""Taps collect exactly the intermediate activations, leave no hooks, and the passes built on them
(`layer_stats`, evaluate's `ncc_pass`) stream like one shot."""

import contextlib

import pytest
import torch
from torch import nn

from nc_core.data.split import Split
from nc_core.measure.class_stats import ClassStats
from nc_core.measure.evaluate import ncc_pass
from nc_core.measure.metrics import ncc_accuracy
from nc_core.measure.taps import LayerTap, flatten, layer_stats
from nc_core.models.adapter import ModelAdapter

K = 3


def small_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, K)
    ).double()


def manual_features(model: nn.Sequential, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of layers "1" (ReLU) and "4" (Tanh) in eval mode, by hand."""
    W0, b0 = model[0].weight, model[0].bias
    W3, b3 = model[3].weight, model[3].bias
    with torch.no_grad():
        h1 = torch.relu(x @ W0.T + b0)
        h4 = torch.tanh(h1 @ W3.T + b3)  # eval: dropout is the identity
    return {"1": h1, "4": h4}


def no_hooks_left(model: nn.Module) -> bool:
    return all(len(m._forward_hooks) == 0 for m in model.modules())


def batches(seed: int = 1, sizes=(1, 9, 30, 4, 17)):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for b in sizes:
        out.append(
            (
                torch.randn(b, 6, generator=gen, dtype=torch.float64),
                torch.randint(0, K, (b,), generator=gen),
            )
        )
    return out


def test_tap_collects_the_intermediate_activations():
    model = small_model().eval()
    x = torch.randn(5, 6, dtype=torch.float64)
    with LayerTap(model, ["1", "4"]) as tap:
        assert not no_hooks_left(model)
        model(x)
    expected = manual_features(model, x)
    assert set(tap.outputs) == {"1", "4"}
    for name in expected:
        torch.testing.assert_close(tap.outputs[name], expected[name])
    assert no_hooks_left(model)


def test_tap_applies_reduce_and_flattens_by_default():
    model = nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (2, 3)))
    x = torch.randn(5, 4)
    with LayerTap(model, ["1"]) as tap:
        model(x)
    assert tap.outputs["1"].shape == (5, 6)
    torch.testing.assert_close(tap.outputs["1"], model[0](x))
    with LayerTap(model, ["1"], reduce=lambda o: o.mean(dim=1)) as tap:
        model(x)
    torch.testing.assert_close(tap.outputs["1"], model(x).mean(dim=1))


def test_tap_unknown_name_raises_and_lists_the_valid_names():
    model = small_model()
    with pytest.raises(ValueError, match="valid names") as err:
        LayerTap(model, ["1", "nope"])
    assert "nope" in str(err.value) and "'3'" in str(err.value)
    with pytest.raises(ValueError):
        LayerTap(model, [""])  # the model itself is not a layer name
    assert no_hooks_left(model)


def test_no_hook_remains_after_an_exception_inside_the_tap():
    model = small_model()
    with pytest.raises(RuntimeError, match="boom"):
        with LayerTap(model, ["0", "1", "4"]):
            model(torch.randn(2, 6, dtype=torch.float64))
            raise RuntimeError("boom")
    assert no_hooks_left(model)


def measuring(names, *, penultimate, reduce=None) -> ModelAdapter:
    """An adapter measuring `names` of `small_model()` (nothing fixable), for `ncc_pass`."""
    return ModelAdapter(
        layers=tuple(names),
        penultimate=penultimate,
        reduce=reduce,
        linears={n: () for n in names},
        activations={},
        adaptive=(),
    )


def as_split(data) -> Split:
    return Split(torch.cat([b[0] for b in data]), torch.cat([b[1] for b in data]))


def streamed_ncc_accuracy(model, data, names, means, *, reduce=None) -> dict[str, float]:
    """Per-layer NCC accuracy from evaluate's `ncc_pass`, streamed in batches of 7 (61 samples:
    eight full batches and a partial one); the last of `names` stands in as the penultimate."""
    adapter = measuring(names, penultimate=names[-1], reduce=reduce)
    result = ncc_pass(
        model, adapter, as_split(data), means, contextlib.nullcontext, num_classes=K, batch_size=7
    )
    return {n: result.ncc_accuracy(n) for n in names}


def one_shot(model, data, name):
    x = torch.cat([b[0] for b in data])
    y = torch.cat([b[1] for b in data])
    return manual_features(model, x)[name], y


@pytest.mark.parametrize("training", [True, False])
def test_layer_stats_equals_one_shot_class_stats_and_restores_mode(training):
    model = small_model().train(training)
    data = batches()
    stats = layer_stats(model, data, ["1", "4"], K)
    assert model.training is training and all(m.training is training for m in model.modules())
    assert no_hooks_left(model)
    for name in ["1", "4"]:
        H, y = one_shot(model, data, name)
        ref = ClassStats(K, H.shape[1]).update(H, y)
        torch.testing.assert_close(stats[name].counts(), ref.counts())
        torch.testing.assert_close(stats[name].means(), ref.means())
        torch.testing.assert_close(stats[name].within_cov(), ref.within_cov())


def test_layer_stats_without_covariance():
    stats = layer_stats(small_model(), batches(), ["4"], K, covariance=False)
    with pytest.raises(ValueError, match="covariance=False"):
        stats["4"].within_cov()


def test_layer_stats_restores_mixed_training_flags():
    model = small_model().train()
    model[2].eval()  # e.g. a sub-module kept in eval while the rest trains
    layer_stats(model, batches(), ["1"], K)
    assert model.training and model[0].training and not model[2].training


@pytest.mark.parametrize("training", [True, False])
def test_ncc_pass_accuracy_equals_one_shot_ncc_accuracy_and_restores_mode(training):
    model = small_model().train(training)
    data = batches(seed=2)
    gen = torch.Generator().manual_seed(3)
    means = {
        "1": torch.randn(K, 8, generator=gen, dtype=torch.float64).abs(),
        "4": torch.randn(K, 8, generator=gen, dtype=torch.float64) * 0.5,
    }
    acc = streamed_ncc_accuracy(model, data, ["1", "4"], means)
    assert model.training is training
    assert no_hooks_left(model)
    for name in ["1", "4"]:
        H, y = one_shot(model, data, name)
        assert acc[name] == pytest.approx(ncc_accuracy(H, y, means[name]), abs=1e-12)


def test_ncc_pass_with_no_samples_raises():
    empty = [(torch.zeros(0, 6, dtype=torch.float64), torch.zeros(0, dtype=torch.int64))]
    with pytest.raises(ValueError, match="no samples"):
        streamed_ncc_accuracy(small_model(), empty, ["1"], {"1": torch.zeros(K, 8)})


def test_passes_record_no_grad():
    model = small_model().train()
    seen = []

    def reduce(output):
        seen.append((output.requires_grad, torch.is_grad_enabled()))
        return flatten(output)

    stats = layer_stats(model, batches(), ["3"], K, reduce=reduce)
    streamed_ncc_accuracy(model, batches(), ["3"], {"3": stats["3"].means()}, reduce=reduce)
    assert seen and all(rg is False and ge is False for rg, ge in seen)
    assert not stats["3"].means().requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled()


def test_evaluate_probe_accuracies_equal_numpy_least_squares_on_the_same_features():
    """The probe columns of one evaluation (smoke MLP, synthetic data) against numpy ridge least
    squares fitted on the NC sample's features of each layer, collected by a tap."""
    import numpy as np

    from nc_core.data.split import stratified_subset
    from nc_core.measure.evaluate import evaluate
    from nc_core.measure.metrics import PROBE_RIDGE
    from nc_core.train.build import build_adapter, build_model, load_data
    from nc_core.train.presets import preset

    cfg = preset("smoke", dataset="synthetic")
    train, test = load_data(cfg)
    nc = stratified_subset(train, 20)
    torch.manual_seed(0)
    model = build_model(cfg, input_shape=tuple(train.x.shape[1:]))
    adapter = build_adapter(cfg, model)
    ev = evaluate(model, adapter, nc, test, num_classes=cfg.K, autocast=contextlib.nullcontext)

    def features(split):
        with (
            torch.no_grad(),
            LayerTap(model.eval(), list(adapter.layers), reduce=adapter.reduce) as t,
        ):
            model(split.x)
        return {n: t.outputs[n].double().numpy() for n in adapter.layers}

    train_f, test_f = features(nc), features(test)
    y, y_test = nc.y.numpy(), test.y.numpy()
    for name, m in ev.layers.items():
        X = train_f[name]
        N, D = X.shape
        Y = np.eye(cfg.K)[y]
        mu, ybar = X.mean(0), Y.mean(0)
        lam = N * PROBE_RIDGE * np.trace((X - mu).T @ (X - mu) / N) / D
        A = np.vstack([X - mu, np.sqrt(lam) * np.eye(D)])
        W = np.linalg.lstsq(A, np.vstack([Y - ybar, np.zeros((D, cfg.K))]), rcond=None)[0]
        b = ybar - mu @ W
        assert m.probe_train_acc == pytest.approx(((X @ W + b).argmax(1) == y).mean(), abs=1e-12)
        test_acc = ((test_f[name] @ W + b).argmax(1) == y_test).mean()
        assert m.probe_test_acc == pytest.approx(test_acc, abs=1e-12)
        assert m.nc_n == len(nc) and 0 <= m.train_ncc_wrong <= len(nc)
