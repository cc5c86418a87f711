"""What a fixed layer, a row and a control mean, each pinned by a test: the model returned is
the one measured, a row describes the epoch it was trained and measured in, controls start from
the same weights as their arms, and parameter counts follow from what is fixed."""

import dataclasses
import json

import pytest
import torch

from nc_core.data.split import Split
from nc_core.data.synthetic import synthetic_classes
from nc_core.fixing.etf import ETFLinear, count_parameters
from nc_core.measure.evaluate import evaluate
from nc_core.train.build import build_adapter, build_model, lr_at
from nc_core.train.config import RunConfig
from nc_core.train.loop import _Run, train
from nc_core.train.presets import preset
from nc_core.train.resume import ResumeError

SYN = RunConfig.of(
    dataset="synthetic", width=32, depth=4, epochs=4, batch_size=64, nc_samples=None, seed=3
)


def comparable(records):
    out = []
    for r in records:
        d = dataclasses.asdict(r)
        d.pop("epoch_seconds"), d.pop("eval_seconds")
        out.append(json.dumps(d, sort_keys=True))
    return out


def test_the_returned_model_is_the_measured_one():
    # Every layer qualifies at once: a policy that fixed layers after the last evaluation would
    # return a model other than the one measured (test accuracy 1.0 reported, 0.007 saved).
    cfg = SYN.replace(policy="adaptive", eps=1.0, patience=2, epochs=2, kind="canonical")
    run = _Run(cfg, None, None)
    while run.epoch < cfg.epochs:
        run.step()
    last = run.records[-1]
    assert last.fixed_at_end == []  # nothing is fixed after the last epoch
    again = evaluate(run.model, run.adapter, run.nc, run.test, num_classes=10, autocast=_null)
    assert again.test_acc == last.test_acc
    # and the checkpointed state rebuilds that same model
    result = train(cfg)
    assert result.records[-1].test_acc == last.test_acc
    assert sorted(result.state.fixed_layers) == sorted(last.fixed_layers)


def _null():
    import contextlib

    return contextlib.nullcontext()


def test_every_column_of_a_row_describes_the_same_moment():
    cfg = SYN.replace(policy="adaptive", eps=0.3, patience=1, kind="rotated", epochs=5)
    records = train(cfg).records
    assert any(r.fixed_at_end for r in records), "something must be fixed mid-run"
    total = records[0].total_params
    run = _Run(cfg.replace(epochs=1), None, None)
    weights = {n: run.model.get_submodule(n).weight.numel() for n in run.adapter.layers}
    for prev, r in zip(records, records[1:], strict=False):
        # what the policy fixed at the end of an epoch is in force during the next one
        assert set(r.fixed_layers) == set(prev.fixed_layers) | set(prev.fixed_at_end)
        assert not set(prev.fixed_layers) & set(prev.fixed_at_end)
    for r in records:
        # trainable parameters, the fixed list and the layer rows: one state
        assert r.trainable_params == total - sum(weights[n] for n in r.fixed_layers)
        assert [n for n, lr in r.layers.items() if lr.fixed_as] == r.fixed_layers
        assert r.optimizer_state_bytes == 4 * r.trainable_params  # SGD momentum, float32


def test_a_fixed_layers_row_carries_when_it_was_fixed():
    cfg = SYN.replace(policy="adaptive", eps=0.3, patience=1, kind="orthogonal", epochs=4)
    records = train(cfg).records
    for r in records:
        for name, lr in r.layers.items():
            if name in r.fixed_layers:
                assert lr.fixed_as == "orthogonal" and 1 <= lr.fixed_epoch < r.epoch
            else:
                assert lr.fixed_as == "" and lr.fixed_epoch == -1


def test_adaptive_never_fixes_the_input_layer_unless_asked():
    cfg = SYN.replace(policy="adaptive", eps=1.0, patience=1, epochs=3)
    assert "fc1" not in train(cfg).records[-1].fixed_layers
    assert "fc1" in train(cfg.replace(fix_input=True)).records[-1].fixed_layers


def test_extending_a_constant_rate_run_equals_running_it_long():
    cfg = SYN.replace(policy="adaptive", eps=0.3, patience=2, kind="rotated", epochs=5)
    straight = train(cfg)
    short = train(cfg.replace(epochs=2))
    extended = train(cfg, state=short.state)
    assert comparable(extended.records) == comparable(straight.records)


@pytest.mark.parametrize(
    "changes",
    [dict(schedule="cosine"), dict(schedule="multistep"), dict(schedule="cosine", warmup_epochs=1)],
)
def test_resume_refuses_a_length_change_that_changes_the_learning_rate(changes):
    state = train(SYN.replace(epochs=2, **changes)).state
    with pytest.raises(ResumeError, match="learning rate"):
        train(SYN.replace(epochs=4, **changes), state=state)
    train(SYN.replace(epochs=2, **changes), state=state)  # the same length is fine


def test_warm_up_then_constant_may_be_extended():
    cfg = SYN.replace(warmup_epochs=2, epochs=2)
    assert lr_at(cfg, 1) == lr_at(cfg.replace(epochs=9), 1)
    train(cfg.replace(epochs=3), state=train(cfg).state)


def test_resume_refuses_a_state_past_the_requested_epochs():
    state = train(SYN.replace(epochs=3)).state
    with pytest.raises(ResumeError, match="holds 3 epochs, past epochs=2"):
        train(SYN.replace(epochs=2), state=state)


def _shared_parameters_equal(a: torch.nn.Module, b: torch.nn.Module) -> list[str]:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    shared = sorted(set(pa) & set(pb))
    assert shared
    return [n for n in shared if not torch.equal(pa[n], pb[n])]


@pytest.mark.parametrize("kind", ["canonical", "rotated", "orthogonal", "freeze"])
def test_vit_arms_of_one_seed_start_every_shared_parameter_equal(kind):
    base = preset("vit-smoke", seed=5)
    etf = base.replace(etf_blocks="all", kind=kind)
    assert _shared_parameters_equal(build_model(base), build_model(etf)) == []
    other_seed = build_model(base.replace(seed=6))
    assert _shared_parameters_equal(build_model(base), other_seed)  # the seed matters


def test_mlp_arms_of_one_seed_start_equal():
    a = build_model(SYN)
    b = build_model(SYN.replace(policy="adaptive", kind="orthogonal", eps=0.2))
    assert _shared_parameters_equal(a, b) == []


def test_vit_kinds_are_what_the_readme_says():
    """canonical/rotated: simplex ETFs; orthogonal: singular values all equal, at the ETF's
    Frobenius norm (top singular value 1 where the ETF's is sqrt(k/(k-1))); freeze: the random
    init at std .02, far below the ETF's scale."""
    norms = {}
    for kind in ("canonical", "rotated", "orthogonal", "freeze"):
        cfg = preset("vit-smoke", etf_blocks="all", kind=kind)
        fc1 = build_model(cfg).get_submodule("blocks.0.ffn.fc1")  # (2*32, 32): tall
        assert isinstance(fc1, ETFLinear) and fc1.kind == kind
        s = torch.linalg.svdvals(fc1.weight.double())
        norms[kind] = fc1.weight.double().norm().item()
        if kind == "orthogonal":
            torch.testing.assert_close(s, torch.ones_like(s))
        if kind == "freeze":
            assert s[0] < 0.5
    assert norms["canonical"] == pytest.approx(norms["orthogonal"])
    assert norms["rotated"] == pytest.approx(norms["orthogonal"])


def test_fixed_layers_count_their_weights_out_of_the_trainable_parameters():
    cfg = preset("vit-smoke", etf_blocks="all", kind="orthogonal")
    model = build_model(cfg)
    trainable, total = count_parameters(model)
    dim, hidden, depth = cfg.arch.dim, cfg.arch.dim * cfg.arch.mlp_ratio, cfg.arch.depth
    assert total - trainable == depth * 2 * dim * hidden


def test_mode_collapse_measures_on_a_model_that_predicts_one_class():
    train_split, test = synthetic_classes(4, 8, 20, seed=0, n_test_per_class=10)
    cfg = RunConfig.of(
        dataset="synthetic", num_classes=4, width=16, depth=3, epochs=1, nc_samples=None
    )
    model = build_model(cfg, input_shape=(8,))
    adapter = build_adapter(cfg, model)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.0, 0.0, 1e6, 0.0]))  # always class 2
        model.fc1.bias.fill_(-1e6)  # every fc1 unit dead after its ReLU (BatchNorm in eval)
        model.bn1.running_mean.zero_(), model.bn1.running_var.fill_(1.0)
    ev = evaluate(model, adapter, train_split, test, num_classes=4, autocast=_null)
    assert ev.pred_counts == [0, 0, 40, 0]
    assert ev.pred_classes == 1 and ev.pred_entropy == 0.0
    assert ev.test_acc == pytest.approx(0.25)
    assert ev.layers["fc1"].dead_units == 1.0
    assert 0.0 <= ev.layers["fc2"].dead_units < 1.0
    assert ev.layers["classifier"].dead_units != ev.layers["classifier"].dead_units  # NaN


def test_every_layer_row_has_the_literature_measures():
    record = train(SYN.replace(epochs=1)).records[-1]
    for name, lr in record.layers.items():
        assert lr.cdnv > 0 and 1 <= lr.erank_means <= lr.rank_means <= 9
        assert 1 <= lr.erank_cov <= lr.rank_cov <= (10 if name == "classifier" else 32)
    assert (
        1 <= record.pred_classes <= 10
        and 0 <= record.pred_entropy <= torch.log(torch.tensor(10.0)).item() + 1e-12
    )


def test_a_split_with_duplicates_is_fine_for_every_measure():
    x = torch.randn(10, 32).repeat(3, 1)
    y = torch.arange(10).repeat(3)
    split = Split(x, y)
    record = train(SYN.replace(epochs=1), data=(split, split)).records[-1]
    assert record.layers["classifier"].rank_means <= 9
